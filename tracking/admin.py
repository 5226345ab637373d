"""Ops screens for tracking: find shipments fast, read a timeline, map unknown codes."""

from __future__ import annotations

from datetime import timedelta
from datetime import timezone as dt_timezone

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from tracking.models import (
    CodeMapping,
    Customer,
    CustomerAPIKey,
    LaneTransitStat,
    Parcel,
    Reharmonisation,
    Shipment,
    StatusCode,
    TrackedItem,
    TrackingEvent,
    UnmappedCode,
)
from tracking.services import MappingRow, code_mappings_import
from tracking.tasks import reharmonise_carrier_after_commit


def _status(milestone: str, code: str, sub_code: str) -> str:
    return f"{milestone} / {code} / {sub_code}" if milestone else "—"


def _carrier_time(event: TrackingEvent) -> str:
    """The carrier's local time with its offset, 24-hour with seconds: 2026-11-28 14:03:00 +01:00."""
    local = event.occurred_at.astimezone(dt_timezone(timedelta(minutes=event.utc_offset_minutes)))
    offset = event.utc_offset_minutes
    return f"{local:%Y-%m-%d %H:%M:%S} {'+' if offset >= 0 else '-'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"


def timeline_html(item: TrackedItem | None, *, customer_id: int | None = None) -> str:
    """A tracked item's events, newest first, with the current state and ETA on top; each event links
    to the inbound message it came from and (for one customer) the deliveries that carried it."""
    if item is None:
        return "—"
    events = list(item.events.order_by("-occurred_at", "-id")[:200])
    eta = next((e.eta for e in events if e.eta), None)
    head = format_html(
        '<div class="timeline-head"><div>Current state <strong id="current-state">{}</strong>{}</div>'
        '<div>ETA <strong id="current-eta">{}</strong></div><div>{} event(s)</div></div>',
        _status(item.status_milestone, item.status_code, item.status_sub_code),
        format_html(" since {}", formats.date_format(item.status_at, "DATETIME_FORMAT")) if item.status_at else "",
        formats.date_format(eta, "DATETIME_FORMAT") if eta else "—",
        len(events),
    )
    deliveries = reverse("admin:notifications_delivery_changelist")
    inbound = "admin:carriers_inboundmessage_change"

    def links(e: TrackingEvent) -> str:
        parts = []
        if e.inbound_message_id:
            parts.append(
                format_html(
                    '<a href="{}">inbound #{}</a>', reverse(inbound, args=[e.inbound_message_id]), e.inbound_message_id
                )
            )
        if customer_id is not None:
            parts.append(
                format_html(
                    '<a href="{}?customer__id__exact={}&amp;first_event_id__lte={}&amp;last_event_id__gte={}">deliveries</a>',
                    deliveries,
                    customer_id,
                    e.pk,
                    e.pk,
                )
            )
        return format_html_join(" · ", "{}", ((p,) for p in parts))

    rows = format_html_join(
        "",
        '<tr data-event="{}"><td>{}</td><td>{}</td><td><b>{}</b>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                e.pk,
                _carrier_time(e),
                formats.date_format(e.recorded_at, "DATETIME_FORMAT"),
                f"{e.milestone}/{e.code}/{e.sub_code}",
                mark_safe(' <span class="unmapped">⚠ unmapped</span>') if e.unmapped else "",
                e.carrier_code,
                f"/{e.carrier_sub_code}" if e.carrier_sub_code else "",
                e.carrier_text,
                ", ".join(
                    str(v) for k, v in e.location.items() if k in ("city", "postal_code", "iso_country", "code") and v
                ),
                e.channel,
                links(e),
            )
            for e in events
        ),
    )
    return format_html(
        '{}<table class="gluey-timeline"><thead><tr><th>carrier time (local, offset)</th><th>recorded</th>'
        "<th>Gluey status</th><th>carrier code</th><th>carrier text</th><th>location</th><th>channel</th>"
        "<th>came from / went out</th></tr></thead><tbody>{}</tbody></table>",
        head,
        rows or mark_safe('<tr><td colspan="8">No events yet.</td></tr>'),
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
    # The page is the timeline first; the registration's details follow, folded.
    fieldsets = [
        (None, {"fields": ["timeline"]}),
        (
            "Registration",
            {
                "classes": ["collapse"],
                "fields": [
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
                ],
            },
        ),
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
        return timeline_html(obj.tracked_item, customer_id=obj.customer_id)


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

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # events are history: only retention removes them

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
        _queued(request, reharmonise_carrier_after_commit(carrier_id=obj.carrier_id, codes=[obj.carrier_code]))

    def delete_model(self, request: HttpRequest, obj: CodeMapping) -> None:
        carrier_id, code = obj.carrier_id, obj.carrier_code
        super().delete_model(request, obj)
        _queued(request, reharmonise_carrier_after_commit(carrier_id=carrier_id, codes=[code]))


def _queued(request: HttpRequest, job: Reharmonisation) -> None:
    url = reverse("admin:tracking_reharmonisation_change", args=[job.pk])
    codes = ", ".join(job.codes or []) or "all codes"
    messages.info(
        request,
        format_html(
            'Re-harmonisation of {} ({}) queued: stored events are corrected and delivered again. <a href="{}">Progress</a>.',
            job.carrier_id,
            codes,
            url,
        ),
    )


class StatusChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: StatusCode) -> str:
        return f"{obj.milestone} / {obj.code} / {obj.sub_code} — {obj.description}"


class MapCodesForm(forms.Form):
    """Each taxonomy entry with its description, as radio buttons; ``find`` narrows the list (no script needed)."""

    find = forms.CharField(required=False, label="Find a status", help_text="Words of the code or its description.")
    status = StatusChoiceField(queryset=StatusCode.objects.all(), label="Harmonised status", widget=forms.RadioSelect)
    note = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: object, find: str = "", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        matches = StatusCode.objects.all()
        for word in find.split():
            matches = matches.filter(
                Q(code__icontains=word)
                | Q(sub_code__icontains=word)
                | Q(milestone__icontains=word)
                | Q(description__icontains=word)
            )
        self.fields["status"].queryset = matches  # type: ignore[attr-defined]


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
        find = request.POST.get("find", "").strip()
        form = MapCodesForm(request.POST if "apply" in request.POST else None, find=find, initial={"find": find})
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
            mapped = queryset.count()
            for carrier_id, rows in by_carrier.items():
                code_mappings_import(carrier_id=carrier_id, rows=rows, reharmonise=False)
                _queued(
                    request,
                    reharmonise_carrier_after_commit(
                        carrier_id=carrier_id, codes=sorted({r.carrier_code for r in rows})
                    ),
                )
            self.message_user(request, f"Mapped {mapped} code(s) to {status}.")
            return HttpResponseRedirect(reverse("admin:tracking_unmappedcode_changelist"))
        return TemplateResponse(
            request,
            "admin/tracking/map_codes.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "queryset": queryset,
                "examples": [
                    (
                        u,
                        TrackingEvent.objects.filter(
                            carrier_id=u.carrier_id, carrier_code=u.carrier_code, carrier_sub_code=u.carrier_sub_code
                        )
                        .select_related("tracked_item")
                        .order_by("-id")
                        .first(),
                    )
                    for u in queryset[:20]
                ],
                "matches": form.fields["status"].queryset.count(),  # type: ignore[attr-defined]
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


@admin.register(Reharmonisation)
class ReharmonisationAdmin(admin.ModelAdmin):
    """Queued re-harmonisations and how far each has got (read-only)."""

    list_display = ["carrier", "codes", "status", "progress", "events_changed", "created_at", "finished_at"]
    list_filter = ["status", "carrier"]

    @admin.display(description="progress")
    def progress(self, obj: Reharmonisation) -> str:
        if obj.status == Reharmonisation.Status.DONE:
            return "done"
        return f"{obj.chunks_done}/{obj.chunks_total} chunk(s)" if obj.chunks_total else obj.status

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
