"""Counting inbound webhooks refused at the door (see ``WebhookRefusal``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from carriers.models import WebhookRefusal

KEEP_DAYS = settings.OPS_REFUSALS_KEEP_DAYS


def webhook_refusal_record(*, carrier_id: str, status: int, reason: str, now: datetime | None = None) -> None:
    """Count one refused request; one UPDATE in the common case, an INSERT on the hour's first refusal."""
    now = now or timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    values = {"last_reason": reason[:300], "last_at": now}
    rows = WebhookRefusal.objects.filter(carrier_id=carrier_id, hour=hour, status=status)
    if rows.update(count=F("count") + 1, **values):
        return
    try:
        with transaction.atomic():
            WebhookRefusal.objects.create(carrier_id=carrier_id, hour=hour, status=status, count=1, **values)
    except IntegrityError:  # another request created the hour's row first
        rows.update(count=F("count") + 1, **values)
        return
    WebhookRefusal.objects.filter(hour__lt=hour - timedelta(days=KEEP_DAYS)).delete()
