"""``{{ value|ops_time }}``: a time as the whole console shows it (settings' DATETIME_FORMAT:
24-hour, seconds, zone named), in the site's zone; empty for None so ``|default`` works."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import formats, timezone

register = template.Library()


@register.filter
def ops_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


@register.filter
def ops_zone(value: datetime) -> str:
    """The zone a page's times are in, e.g. 'UTC (+00:00)'."""
    local = timezone.localtime(value)
    offset = local.strftime("%z")
    return f"{local:%Z} ({offset[:3]}:{offset[3:]})"
