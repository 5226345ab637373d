"""Ops screens for tracking: find shipments fast, read a timeline, map unknown codes."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from tracking.models import (
    CodeMapping,
    Customer,
    CustomerAPIKey,
    LaneTransitStat,
    Parcel,
    Shipment,
    StatusCode,
    TrackedItem,
    TrackingEvent,
    UnmappedCode,
)
from tracking.services import MappingRow, code_mappings_import, events_reharmonise


def _status(milestone: str, code: str, sub_code: str) -> str:
    return f"{milestone} / {code} / {sub_code}" if milestone else "—"


def timeline_html(item: TrackedItem | None) -> str:
    if item is None:
        return "—"
    events = item.events.order_by("-occurred_at", "-id")[:200]
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td><b>{}</b>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                e.occurred_at.isoformat(),
                e.recorded_at.isoformat(timespec="seconds"),
                f"{e.milestone}/{e.code}/{e.sub_code}",
                " ⚠ unmapped" if e.unmapped else "",
                e.carrier_code,
                f"/{e.carrier_sub_code}" if e.carrier_sub_code else "",
                e.carrier_text,
                ", ".join(str(v) for k, v in e.location.items() if k in ("city", "postal_code", "iso_country", "code")),
                e.channel,
            )
            for e in events
        ),
    )
    return format_html(
        '<table class="gluey-timeline"><thead><tr><th>carrier time</th><th>recorded</th><th>Gluey status</th>'
        "<th>carrier code</th><th>carrier text</th><th>location</th><th>channel</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        rows or format_html('<tr><td colspan="7">No events yet.</td></tr>'),
    )


@admin.register(StatusCode)
class StatusCodeAdmin(admin.ModelAdmin):
    list_display = ["milestone", "code", "sub_code", "description"]
    list_filter = ["milestone"]
    search_fields = ["milestone", "code", "sub_code", "description"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class APIKeyInline(admin.TabularInline):
    model = CustomerAPIKey
    fields = ["name", "prefix", "created", "revoked", "expiry_date"]
    readonly_fields = ["name", "prefix", "created"]
    extra = 0
    can_delete = False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "account_number", "is_active", "shipment_count", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "account_number"]
    readonly_fields = ["account_number", "created_at"]
    inlines = [APIKeyInline]

    @admin.display(description="shipments")
    def shipment_count(self, obj: Customer) -> int:
        return obj.shipments.count()


# The library registers its own APIKey model, which nothing here uses: one "API keys" in the index.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(CustomerAPIKey)
class CustomerAPIKeyAdmin(APIKeyModelAdmin):
    # APIKeyModelAdmin's attributes are untyped tuple literals, which mypy reads as fixed-length.
    list_display = (*APIKeyModelAdmin.list_display, "customer")  # type: ignore[assignment]
    list_filter = ("revoked", "customer")  # type: ignore[assignment]
    search_fields = (*APIKeyModelAdmin.search_fields, "customer__name", "customer__account_number")  # type: ignore[assignment]


class CarrierDetectedFilter(admin.SimpleListFilter):
    """Shipments whose carrier was recognised from the number (no carrier_id given)."""

    title = "carrier detected"
    parameter_name = "carrier_detected"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Detected from the number"), ("no", "Named by the customer")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.exclude(detected_format="")
        if self.value() == "no":
            return queryset.filter(detected_format="")
        return queryset


class ParcelInline(admin.TabularInline):
    model = Parcel
    fields = ["carrier_tracking_id", "uuid_ref", "meta_data"]
    extra = 0


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = [
        "carrier_tracking_id",
        "carrier",
        "detected",
        "customer",
        "uuid_ref",
        "status",
        "status_at",
        "created_at",
    ]
    list_filter = ["carrier", CarrierDetectedFilter, "tracking_level", "tracked_item__status_milestone", "customer"]
    search_fields = ["=carrier_tracking_id", "=uuid_ref", "=id", "customer__name", "customer__account_number"]
    list_select_related = ["customer", "tracked_item"]
    readonly_fields = [
        "id",
        "customer",
        "carrier",
        "carrier_tracking_id",
        "detected_format",
        "tracked_item",
        "created_at",
        "timeline",
    ]
    fields = [
        "id",
        "customer",
        "carrier",
        "carrier_tracking_id",
        "detected_format",
        "uuid_ref",
        "tracking_level",
        "reference_shipper",
        "reference_receiver",
        "meta_data",
        "tracked_item",
        "created_at",
        "timeline",
    ]
    inlines = [ParcelInline]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers register shipments through the API

    @admin.display(description="detected", boolean=True, ordering="detected_format")
    def detected(self, obj: Shipment) -> bool:
        return obj.carrier_detected

    @admin.display(description="status", ordering="tracked_item__status_milestone")
    def status(self, obj: Shipment) -> str:
        item = obj.tracked_item
        return _status(item.status_milestone, item.status_code, item.status_sub_code)

    @admin.display(description="status at", ordering="tracked_item__status_at")
    def status_at(self, obj: Shipment) -> object:
        return obj.tracked_item.status_at

    @admin.display(description="event timeline")
    def timeline(self, obj: Shipment) -> str:
        return timeline_html(obj.tracked_item)


@admin.register(TrackedItem)
class TrackedItemAdmin(admin.ModelAdmin):
    list_display = ["tracking_id", "carrier", "status", "status_at", "next_check_at", "expires_at", "invalid_reason"]
    list_filter = ["carrier", "status_milestone", ("next_check_at", admin.EmptyFieldListFilter)]
    search_fields = ["=tracking_id"]
    readonly_fields = [
        "carrier",
        "tracking_id",
        "created_at",
        "current_event",
        "status_milestone",
        "status_code",
        "status_sub_code",
        "status_at",
        "last_event_recorded_at",
        "last_checked_at",
        "timeline",
    ]
    raw_id_fields = []

    @admin.display(description="status", ordering="status_milestone")
    def status(self, obj: TrackedItem) -> str:
        return _status(obj.status_milestone, obj.status_code, obj.status_sub_code)

    @admin.display(description="event timeline")
    def timeline(self, obj: TrackedItem) -> str:
        return timeline_html(obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(TrackingEvent)
class TrackingEventAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "tracked_item",
        "carrier_code",
        "carrier_sub_code",
        "gluey_status",
        "unmapped",
        "occurred_at",
        "channel",
    ]
    list_filter = ["channel", "unmapped", "milestone", "carrier"]
    search_fields = ["=tracked_item__tracking_id", "carrier_code"]
    list_select_related = ["tracked_item"]
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [f.name for f in TrackingEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Gluey status")
    def gluey_status(self, obj: TrackingEvent) -> str:
        return _status(obj.milestone, obj.code, obj.sub_code)


class CodeMappingForm(forms.ModelForm):
    class Meta:
        model = CodeMapping
        fields = ["carrier", "carrier_code", "carrier_sub_code", "status", "note"]


@admin.register(CodeMapping)
class CodeMappingAdmin(admin.ModelAdmin):
    form = CodeMappingForm
    list_display = ["carrier", "carrier_code", "carrier_sub_code", "status", "note", "updated_at"]
    list_filter = ["carrier", "status__milestone"]
    search_fields = ["carrier_code", "note"]
    autocomplete_fields = ["status"]

    def save_model(self, request: HttpRequest, obj: CodeMapping, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        changed = events_reharmonise(carrier_id=obj.carrier_id, codes=[obj.carrier_code])
        messages.info(request, f"Re-harmonised {changed} stored event(s) with code {obj.carrier_code}.")

    def delete_model(self, request: HttpRequest, obj: CodeMapping) -> None:
        carrier_id, code = obj.carrier_id, obj.carrier_code
        super().delete_model(request, obj)
        events_reharmonise(carrier_id=carrier_id, codes=[code])


class MapCodesForm(forms.Form):
    status = forms.ModelChoiceField(queryset=StatusCode.objects.all(), label="Harmonised status")
    note = forms.CharField(required=False, max_length=200)


@admin.register(UnmappedCode)
class UnmappedCodeAdmin(admin.ModelAdmin):
    list_display = ["carrier", "carrier_code", "carrier_sub_code", "count", "first_seen", "last_seen", "example_text"]
    list_filter = ["carrier"]
    search_fields = ["carrier_code", "example_text"]
    actions = ["map_codes"]
    readonly_fields = [
        "carrier",
        "carrier_code",
        "carrier_sub_code",
        "count",
        "first_seen",
        "last_seen",
        "example_text",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Map selected codes to a harmonised status")
    def map_codes(self, request: HttpRequest, queryset: QuerySet[UnmappedCode]) -> object:
        form = MapCodesForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            status = form.cleaned_data["status"]
            milestone, code, sub_code = status.triple
            by_carrier: dict[str, list[MappingRow]] = {}
            for unmapped in queryset:
                by_carrier.setdefault(unmapped.carrier_id, []).append(
                    MappingRow(
                        unmapped.carrier_code,
                        unmapped.carrier_sub_code,
                        milestone,
                        code,
                        sub_code,
                        form.cleaned_data["note"],
                    )
                )
            total = 0
            for carrier_id, rows in by_carrier.items():
                total += code_mappings_import(carrier_id=carrier_id, rows=rows)["events_reharmonised"]
            self.message_user(
                request, f"Mapped {queryset.count()} code(s) to {status}; {total} event(s) re-harmonised."
            )
            return HttpResponseRedirect(reverse("admin:tracking_unmappedcode_changelist"))
        return TemplateResponse(
            request,
            "admin/tracking/map_codes.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "queryset": queryset,
                "opts": self.model._meta,
                "title": "Map unmapped codes",
            },
        )


@admin.register(LaneTransitStat)
class LaneTransitStatAdmin(admin.ModelAdmin):
    """What the delivery-date predictions are based on; rebuilt by the beat task, so read-only."""

    list_display = ["label", "level", "sample_size", "low_days", "median_days", "high_days", "coverage", "refreshed_at"]
    list_filter = ["carrier", "level"]
    search_fields = ["label"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
