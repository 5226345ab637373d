"""Ops screens for the Event Service."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from carriers.models import Carrier, InboundMessage


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "adapter", "enabled", "poll_interval_minutes", "backoff_until", "updated_at"]
    list_filter = ["adapter", "enabled"]
    search_fields = ["id", "name"]


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "carrier", "channel", "status", "filename", "size", "event_count", "received_at", "short_error"]
    list_filter = ["status", "channel", "carrier"]
    search_fields = ["=id", "sha256", "filename"]
    readonly_fields = [f.name for f in InboundMessage._meta.fields if f.name != "body"] + ["raw_body"]
    exclude = ["body"]

    @admin.display(description="error")
    def short_error(self, obj: InboundMessage) -> str:
        return obj.error[:120]

    @admin.display(description="raw body")
    def raw_body(self, obj: InboundMessage) -> str:
        from django.utils.html import format_html

        text = bytes(obj.body[:200_000]).decode("utf-8", errors="replace")
        return format_html('<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>', text)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
