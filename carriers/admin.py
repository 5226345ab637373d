"""Ops screens for the Event Service: carriers with their channel settings, schedules
and back-off state; the inbound ledger with errors, raw bodies and reprocessing;
the sFTP file ledger."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django_celery_beat.models import PeriodicTask

from carriers.adapters.registry import ADAPTERS, UnknownAdapter, adapter_class
from carriers.health import periodic_task_times
from carriers.models import (
    Carrier,
    InboundMessage,
    InboundStatus,
    ItemState,
    SftpFile,
    WebhookRefusal,
    new_webhook_secret,
)
from carriers.services.channels import carrier_channels
from carriers.services.inbound import inbound_messages_reprocess
from carriers.services.polling import item_states_release
from carriers.services.schedules import DISPATCH_NAME, sftp_task_name
from carriers.services.setup import SECRET_KEYS, carrier_config_problems, carrier_default_mappings_load
from tracking.tasks import reharmonise_carrier_after_commit


class BlankJSONField(forms.JSONField):
    """A JSON field that shows an empty box, not ``null``, when there is nothing to show."""

    def prepare_value(self, value: Any) -> Any:
        return "" if value is None else super().prepare_value(value)


class CarrierForm(forms.ModelForm):
    adapter = forms.ChoiceField(
        choices=[(name, name) for name in ADAPTERS],
        help_text="Webhooks: generic_json, ups. Files on sFTP: x12_214, edifact_iftsta, csv, generic_json. "
        "API polling: dhl, fedex, ups, usps.",
    )
    webhook_secret = forms.CharField(
        required=False,
        label="Replace webhook secret",
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty: a new carrier gets a generated whsec_ secret (shown once after saving) and an "
        "existing one keeps its secret. UPS: the credential you gave UPS for Track Alert.",
    )
    new_credentials = BlankJSONField(
        required=False,
        label="Replace credentials",
        help_text="A JSON object (password, private_key, client_id, client_secret, api_key…). "
        "Leave empty to keep the stored ones; they are encrypted and never shown.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    class Meta:
        model = Carrier
        exclude = ["credentials", "backoff_until", "poll_failures", "last_error", "last_error_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["webhook_secret"] = ""  # write-only: never sent to the browser
        self.generated_secret = ""

    def clean_webhook_secret(self) -> str:
        value = (self.cleaned_data.get("webhook_secret") or "").strip()
        if value:
            return value
        if self.instance.pk and self.instance.webhook_secret:
            return self.instance.webhook_secret
        self.generated_secret = new_webhook_secret()
        return self.generated_secret

    def clean_new_credentials(self) -> dict[str, Any] | None:
        value = self.cleaned_data.get("new_credentials")
        if value in (None, "", {}):
            return None
        if not isinstance(value, dict):
            raise forms.ValidationError("Credentials must be a JSON object.")
        unknown = sorted(set(value) - SECRET_KEYS - {"username"})
        if unknown:
            raise forms.ValidationError(f"Unknown credential key(s): {', '.join(unknown)}.")
        return value

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        adapter = data.get("adapter")
        if not adapter:
            return data
        credentials = data.get("new_credentials") or (self.instance.credentials if self.instance.pk else {})
        for problem in carrier_config_problems(
            adapter=adapter, config=data.get("config") or {}, credentials=credentials
        ):
            self.add_error("config", problem)
        batch = data.get("poll_batch_size")
        cls = adapter_class(adapter)
        limit = cls.poll_batch_size
        if batch is not None and not 1 <= batch <= limit:
            if "poll" not in cls.channels or "poll_batch_size" not in self.changed_data:
                # Not polling, or left at the model's default: the adapter's own maximum, not a trap.
                data["poll_batch_size"] = limit
            else:
                self.add_error("poll_batch_size", f"The {adapter} adapter sends at most {limit} numbers per request.")
        return data

    def save(self, commit: bool = True) -> Carrier:
        carrier = super().save(commit=False)
        if self.cleaned_data.get("new_credentials"):
            carrier.credentials = self.cleaned_data["new_credentials"]
        if commit:
            carrier.save()
        return carrier


QUOTA_SECTION = "Quota (empty: the carrier's documented default)"

# What each section means while the adapter is still being chosen (a saved carrier hides what it does not use).
ADD_NOTES: dict[object, object] = {
    "Webhook": "Only for adapters that receive webhooks (generic_json, ups). Leave the secret empty to "
    "generate one; it is shown once after saving, with the URL to give the carrier.",
    QUOTA_SECTION: "Every call counts, token requests too. Leave a figure empty to keep the carrier's documented "
    "default (README, 'Carrier APIs'); set one when your plan differs.",
    "Polling": "Only for adapters that poll an API (dhl, fedex, ups, usps); the defaults suit the others and "
    "are ignored by them. The batch size is capped at what the adapter sends per request.",
}


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    form = CarrierForm
    list_display = [
        "id",
        "name",
        "adapter",
        "enabled",
        "channels",
        "fetch_schedule",
        "backoff_state",
        "api_budget",
        "updated_at",
    ]
    list_filter = ["adapter", "enabled"]
    search_fields = ["id", "name"]
    readonly_fields = [
        "links",
        "webhook_url",
        "stored_credentials",
        "channels",
        "schedules",
        "backoff_state",
        "api_budget",
        "last_error",
        "last_error_at",
    ]
    fieldsets = [
        (None, {"fields": ["id", "name", "adapter", "enabled", "default_zone", "channels", "links"]}),
        ("Webhook", {"fields": ["webhook_url", "webhook_secret"]}),
        (
            "Channel settings",
            {
                "fields": ["config", "stored_credentials", "new_credentials"],
                "description": "sFTP: host, port, username, host_key, remote_dir, pattern, archive_dir, "
                "quarantine_dir, format, stable_seconds, max_file_bytes, interval_seconds. "
                "Polling: base_url, polling (true/false).",
            },
        ),
        ("Polling", {"fields": ["poll_interval_minutes", "poll_batch_size"]}),
        (
            QUOTA_SECTION,
            {
                "fields": [
                    "quota_per_second",
                    "quota_burst",
                    "quota_per_hour",
                    "quota_per_day",
                    "quota_per_item_day",
                ]
            },
        ),
        ("State", {"fields": ["schedules", "backoff_state", "last_error", "last_error_at"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Carrier | None = None) -> list[str]:
        return self.readonly_fields + (["id"] if obj else [])

    def get_fieldsets(self, request: HttpRequest, obj: Carrier | None = None) -> list[Any]:
        """A saved carrier shows only the sections its adapter uses; a new one explains which apply when."""
        if obj is None:
            return [
                (title, {**options, "description": ADD_NOTES.get(title or "", options.get("description", ""))})
                for title, options in self.fieldsets
            ]
        try:
            offered = adapter_class(obj.adapter).channels
        except UnknownAdapter:
            return self.fieldsets
        hidden = {"Webhook"} - ({"Webhook"} if "webhook" in offered else set())
        hidden |= {"Polling", QUOTA_SECTION} - ({"Polling", QUOTA_SECTION} if "poll" in offered else set())
        return [(title, options) for title, options in self.fieldsets if title not in hidden]

    def save_model(self, request: HttpRequest, obj: Carrier, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            return
        carrier_default_mappings_load(carrier=obj)
        if "webhook" in adapter_class(obj.adapter).channels:
            secret = getattr(form, "generated_secret", "") or ""
            self.message_user(
                request,
                f"Give the carrier its webhook URL {self.webhook_url(obj)}"
                + (f" and this signing secret (shown once, never again): {secret}" if secret else "."),
                messages.WARNING,
            )

    @admin.display(description="records")
    def links(self, obj: Carrier) -> str:
        if not obj.pk:
            return "—"
        query = f"?carrier__id__exact={obj.pk}"
        return format_html(
            '<a href="{}">inbound messages</a> · <a href="{}">failed</a> · <a href="{}">refused webhooks</a> · '
            '<a href="{}">unmapped codes</a> · <a href="{}">code mappings</a>',
            reverse("admin:carriers_inboundmessage_changelist") + query,
            reverse("admin:carriers_inboundmessage_changelist") + query + "&status=failed",
            reverse("admin:carriers_webhookrefusal_changelist") + query,
            reverse("admin:tracking_unmappedcode_changelist") + query,
            reverse("admin:tracking_codemapping_changelist") + query,
        )

    @admin.display(description="channels")
    def channels(self, obj: Carrier) -> str:
        return ", ".join(sorted(carrier_channels(obj))) or "—"

    @admin.display(description="webhook URL")
    def webhook_url(self, obj: Carrier) -> str:
        from django.conf import settings

        return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/carriers/{obj.pk}/webhook" if obj.pk else "—"

    @admin.display(description="stored credentials")
    def stored_credentials(self, obj: Carrier) -> str:
        keys = sorted(obj.credentials or {})
        return ", ".join(f"{k} (set)" for k in keys) or "none"

    @admin.display(description="sFTP fetch (last / next)")
    def fetch_schedule(self, obj: Carrier) -> str:
        task = PeriodicTask.objects.filter(name=sftp_task_name(obj.pk)).first()
        if task is None:
            return "—"
        times = periodic_task_times(task=task, now=timezone.now())
        last, upcoming = times.last_run_at, times.next_run_at
        return (
            f"{last:%H:%M:%S} / {upcoming:%H:%M:%S}" if last and upcoming else ("never run" if upcoming else "disabled")
        )

    @admin.display(description="schedules")
    def schedules(self, obj: Carrier) -> str:
        rows = []
        for name in (sftp_task_name(obj.pk), DISPATCH_NAME):
            task = PeriodicTask.objects.filter(name=name).first()
            if task is None:
                continue
            times = periodic_task_times(task=task, now=timezone.now())
            last, upcoming = times.last_run_at, times.next_run_at
            url = reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])
            rows.append(
                (
                    url,
                    task.name,
                    "enabled" if task.enabled else "disabled",
                    last.isoformat(timespec="seconds") if last else "never",
                    upcoming.isoformat(timespec="seconds") if upcoming else "—",
                )
            )
        if not rows:
            return "—"
        return format_html_join("", '<a href="{}">{}</a>: {} · last run {} · next run {}<br>', rows)

    @admin.display(description="back-off")
    def backoff_state(self, obj: Carrier) -> str:
        if obj.backoff_until and obj.backoff_until > timezone.now():
            return f"paused until {obj.backoff_until:%Y-%m-%d %H:%M:%S} ({obj.poll_failures} failure(s))"
        return "—" if not obj.poll_failures else f"{obj.poll_failures} recent failure(s)"

    @admin.display(description="API budget")
    def api_budget(self, obj: Carrier) -> str:
        """The alert (credentials refused…) first, then the budget warning; empty when all is well."""
        notes = [note for note in (obj.poll_alert, obj.quota_warning) if note]
        return " — ".join(notes) or "—"

    # The sFTP test page is the ops console's: linked by URL name (ops:carrier-sftp-test), never imported.
    actions = ["reharmonise", "test_sftp"]

    @admin.action(description="Re-harmonise stored events with the current mappings", permissions=["change"])
    def reharmonise(self, request: HttpRequest, queryset: QuerySet[Carrier]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        for carrier_id in ids:
            reharmonise_carrier_after_commit(carrier_id=carrier_id)
        self.message_user(request, f"Re-harmonising {', '.join(ids)} in the background.", messages.SUCCESS)

    @admin.action(description="Test the sFTP connection (show the host key fingerprint)", permissions=["view"])
    def test_sftp(self, request: HttpRequest, queryset: QuerySet[Carrier]) -> HttpResponseRedirect | None:
        carrier = queryset.order_by("pk").first()
        if carrier is None or queryset.count() != 1:
            self.message_user(request, "Select exactly one carrier to test.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("ops:carrier-sftp-test", args=[carrier.pk]))


class InboundStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(InboundStatus.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(status=self.value()) if self.value() else queryset


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    # The columns that matter first; the error is cut here and whole on the record.
    list_display = [
        "status",
        "short_error",
        "attempts",
        "received_at",
        "carrier",
        "channel",
        "event_count",
        "size",
        "filename",
        "id",
    ]
    list_filter = [InboundStatusFilter, "channel", "carrier"]
    search_fields = ["=id", "sha256", "filename"]
    readonly_fields = [f.name for f in InboundMessage._meta.fields if f.name != "body"] + ["raw_body"]
    exclude = ["body"]
    actions = ["reprocess"]
    list_select_related = ["carrier"]

    @admin.display(description="error")
    def short_error(self, obj: InboundMessage) -> str:
        return obj.error[:120]

    @admin.display(description="raw body")
    def raw_body(self, obj: InboundMessage) -> str:
        source = obj
        if obj.status == InboundStatus.DUPLICATE and obj.duplicate_of_id:
            source = InboundMessage.objects.filter(pk=obj.duplicate_of_id).first() or obj
        text = bytes(source.body[:200_000]).decode("utf-8", errors="replace")
        if source.content_type.startswith("application/json") or text[:1] in "{[":
            try:
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except ValueError:
                pass
        note = f"(same bytes as message #{source.pk})\n" if source is not obj else ""
        return format_html(
            '<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}{}</pre>', note, text
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Reprocess selected messages (failed or pending)")
    def reprocess(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = inbound_messages_reprocess(message_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Queued {count} message(s) for processing.", messages.SUCCESS)

    def get_urls(self) -> list:
        return [
            path(
                "<int:message_id>/reprocess/",
                self.admin_site.admin_view(self.reprocess_one),
                name="carriers_inboundmessage_reprocess",
            )
        ] + super().get_urls()

    def reprocess_one(self, request: HttpRequest, message_id: int) -> HttpResponseRedirect:
        message = get_object_or_404(InboundMessage, pk=message_id)
        back = HttpResponseRedirect(reverse("admin:carriers_inboundmessage_change", args=[message_id]))
        if request.method != "POST":
            return back
        if not request.user.has_perm("carriers.change_inboundmessage"):
            raise PermissionDenied("needs permission: carriers.change_inboundmessage")
        force = request.POST.get("force") == "yes"
        if inbound_messages_reprocess(message_ids=[message_id], force=force):
            self.message_user(request, f"Message #{message_id} queued for processing.", messages.SUCCESS)
        elif message.status == InboundStatus.PROCESSED:
            self.message_user(
                request,
                f"Message #{message_id} was already processed ({message.event_count} event(s)), so nothing was "
                "queued. Use “Process again anyway” to run it again: events already stored are not stored twice.",
                messages.WARNING,
            )
        else:
            self.message_user(request, f"Message #{message_id} is {message.status}; nothing to do.", messages.WARNING)
        return back

    # A raw ledger row is a record, not a form: no Save, no Delete; its actions are buttons on the page.
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        extra = {
            **(extra_context or {}),
            "can_reprocess": request.user.has_perm("carriers.change_inboundmessage"),
        }
        return super().change_view(request, object_id, form_url, extra)


@admin.register(SftpFile)
class SftpFileAdmin(admin.ModelAdmin):
    list_display = ["taken_at", "carrier", "name", "size", "status", "moved_to", "short_error"]
    list_filter = ["status", "carrier"]
    search_fields = ["name", "sha256"]
    readonly_fields = [f.name for f in SftpFile._meta.fields]

    @admin.display(description="error")
    def short_error(self, obj: SftpFile) -> str:
        return obj.error[:120]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class IsolatedFilter(admin.SimpleListFilter):
    title = "polling"
    parameter_name = "isolated"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "isolated (no longer polled)"), ("flagged", "reply flagged")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ItemState]) -> QuerySet[ItemState]:
        if self.value() == "yes":
            return queryset.filter(isolated_at__isnull=False)
        if self.value() == "flagged":
            return queryset.exclude(reply_problem="")
        return queryset


@admin.register(ItemState)
class ItemStateAdmin(admin.ModelAdmin):
    """Per number: refused requests and isolation, flagged replies, daily fetches, push subscription."""

    list_display = [
        "tracked_item",
        "carrier",
        "isolated_at",
        "request_failures",
        "short_failure",
        "reply_problem",
        "fetches_today",
        "subscription",
        "subscription_expires_at",
    ]
    list_filter = [IsolatedFilter, "carrier", "subscription"]
    search_fields = ["tracked_item__tracking_id"]
    readonly_fields = [f.name for f in ItemState._meta.fields]
    actions = ["release"]

    @admin.display(description="last refusal")
    def short_failure(self, obj: ItemState) -> str:
        return obj.last_failure[:120]

    @admin.action(description="Poll the selected isolated numbers again")
    def release(self, request: HttpRequest, queryset: QuerySet[ItemState]) -> None:
        count = item_states_release(item_ids=list(queryset.values_list("tracked_item_id", flat=True)))
        self.message_user(request, f"{count} number(s) will be polled at the next dispatch.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(WebhookRefusal)
class WebhookRefusalAdmin(admin.ModelAdmin):
    """Read-only: what the inbound webhook refused, per carrier and hour (the requests are not kept)."""

    list_display = ["hour", "carrier", "status", "count", "last_at", "last_reason"]
    list_filter = ["status", "carrier"]
    list_select_related = ["carrier"]
    date_hierarchy = "hour"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
