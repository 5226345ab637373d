"""Admin for webhook endpoints, deliveries (with attempts), sFTP destinations and exports.

Actions call services; nothing here changes rows directly.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from notifications import services
from notifications.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Export,
    SftpDestination,
    WebhookEndpoint,
)

# --- Webhook endpoints --------------------------------------------------------------------------


class WebhookEndpointAddForm(forms.ModelForm):
    class Meta:
        model = WebhookEndpoint
        fields = ["customer", "url"]

    def clean_url(self) -> str:
        try:
            return services.endpoint_url_validate(url=self.cleaned_data["url"])
        except services.InvalidEndpoint as exc:
            raise forms.ValidationError(str(exc).partition(": ")[2]) from None


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "customer", "health", "consecutive_failures", "last_success_at", "pending"]
    list_filter = ["is_active"]
    search_fields = ["url", "customer__name", "customer__account_number"]
    list_select_related = ["customer"]
    actions = ["send_test_event", "disable", "enable", "replay_window", "unsubscribe"]
    readonly_fields = [
        "customer",
        "url",
        "is_active",
        "disabled_at",
        "disabled_reason",
        "unsubscribed_at",
        "failing_since",
        "consecutive_failures",
        "last_success_at",
        "last_failure_at",
        "last_error",
        "retry_at",
        "previous_secret_expires_at",
        "created_at",
    ]
    fields = tuple(readonly_fields)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEndpoint]:
        return (
            super()
            .get_queryset(request)
            .annotate(pending_count=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)))
        )

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = WebhookEndpointAddForm
            kwargs["fields"] = ["customer", "url"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["customer", "url"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        if change:
            return
        endpoint, secret = services.endpoint_subscribe(customer=obj.customer, url=obj.url)
        obj.pk = endpoint.pk
        self.message_user(
            request,
            f"Signing secret for {endpoint.url} (shown once, give it to the customer): {secret}",
            messages.WARNING,
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting would cascade the delivery history away: "Unsubscribe" deactivates instead.
        return False

    @admin.action(
        description="Unsubscribe (deactivate; delivery history kept for the retention period)", permissions=["change"]
    )
    def unsubscribe(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        count = 0
        for endpoint in queryset.select_related("customer"):
            count += services.endpoint_unsubscribe(customer=endpoint.customer, url=endpoint.url)
        self.message_user(request, f"Unsubscribed {count} endpoint(s); their deliveries stay readable and replayable.")

    @admin.display(description="health")
    def health(self, obj: WebhookEndpoint) -> str:
        if obj.unsubscribed_at:
            return format_html(
                '<span style="color:#777">unsubscribed {}</span>', f"{obj.unsubscribed_at:%Y-%m-%d %H:%M:%S %Z}"
            )
        if not obj.is_active:
            return format_html('<span style="color:#a00">disabled</span> {}', obj.disabled_reason)
        if obj.failing_since:
            return format_html(
                '<span style="color:#c60">failing since {}</span>; next try {}',
                f"{obj.failing_since:%Y-%m-%d %H:%M}",
                f"{obj.retry_at:%H:%M:%S}" if obj.retry_at else "-",
            )
        return "healthy"

    @admin.display(description="pending", ordering="pending_count")
    def pending(self, obj: WebhookEndpoint) -> int:
        return getattr(obj, "pending_count", 0)

    @admin.action(description="Send a test event (start / start / gluey_test) and show the response")
    def send_test_event(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            attempt = services.endpoint_send_test(endpoint=endpoint)
            outcome = f"HTTP {attempt.status_code}" if attempt.status_code is not None else attempt.error
            body = attempt.response_body[:300]
            self.message_user(
                request,
                f"{endpoint.url}: {outcome} in {attempt.latency_ms} ms" + (f" — {body}" if body else ""),
                messages.SUCCESS if attempt.succeeded else messages.ERROR,
            )

    @admin.action(description="Disable the selected endpoints")
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            services.endpoint_disable(endpoint=endpoint, reason=f"disabled by {request.user}")
        self.message_user(request, f"Disabled {len(queryset)} endpoint(s).")

    @admin.action(description="Enable the selected endpoints (pending deliveries go out at once)")
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            services.endpoint_enable(endpoint=endpoint)
        self.message_user(request, f"Enabled {len(queryset)} endpoint(s).")

    @admin.action(description="Replay the endpoint's deliveries in a time window…", permissions=["view"])
    def replay_window(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> HttpResponseRedirect | None:
        # The window form and its preview are the ops console's, linked by URL name (ops:endpoint-replay).
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one endpoint to replay.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("ops:endpoint-replay", args=[queryset.get().pk]))


# --- Deliveries -------------------------------------------------------------------------------


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "status_code", "latency_ms", "succeeded", "error", "response_body")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "msg_id",
        "endpoint",
        "customer",
        "status",
        "kind",
        "event_count",
        "attempt_count",
        "last_status_code",
        "created_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["msg_id", "endpoint__url", "customer__name", "customer__account_number"]
    list_select_related = ["endpoint", "customer"]
    date_hierarchy = "created_at"
    inlines = [DeliveryAttemptInline]
    actions = ["replay"]
    exclude = ["body"]
    readonly_fields = [
        "endpoint",
        "customer",
        "msg_id",
        "kind",
        "status",
        "event_count",
        "first_event_id",
        "last_event_id",
        "created_at",
        "next_attempt_at",
        "deadline_at",
        "attempt_count",
        "schedule_step",
        "last_status_code",
        "last_error",
        "delivered_at",
        "dead_at",
        "replay_count",
        "replayed_at",
        "payload",
    ]

    @admin.display(description="body")
    def payload(self, obj: Delivery) -> str:
        return format_html("<pre style='white-space:pre-wrap;max-height:30em;overflow:auto'>{}</pre>", obj.body[:20000])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Replay: send the selected deliveries again (same webhook-id)")
    def replay(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = services.deliveries_requeue(deliveries=queryset)
        self.message_user(request, f"Queued {count} delivery(ies) to be sent again.")


# --- sFTP destinations and exports ----------------------------------------------------------------


class SftpDestinationForm(forms.ModelForm):
    """Secrets are write-only: a blank field keeps the stored value."""

    password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    private_key = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), help_text="Leave blank to keep the stored key."
    )
    passphrase = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = SftpDestination
        exclude = ["lease_token", "lease_until", "periodic_task"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("password", "private_key", "passphrase"):
            self.initial[name] = ""

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for name in ("password", "private_key", "passphrase"):
            if not data.get(name) and self.instance.pk:
                data[name] = getattr(self.instance, name)
        try:
            services.sftp_destination_validate(values=data)
        except services.InvalidDestination as exc:
            field, _, message = str(exc).partition(": ")
            raise forms.ValidationError({field: message} if field in self.fields else str(exc)) from None
        return data


class ExportInline(admin.TabularInline):
    model = Export
    extra = 0
    can_delete = False
    fields = ("file_name", "control_number", "status", "event_count", "size", "attempts", "created_at", "uploaded_at")
    readonly_fields = fields
    ordering = ["-id"]
    max_num = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Export]:
        return super().get_queryset(request).defer("content")


@admin.register(SftpDestination)
class SftpDestinationAdmin(admin.ModelAdmin):
    form = SftpDestinationForm
    list_display = [
        "name",
        "customer",
        "host",
        "format",
        "interval_minutes",
        "enabled",
        "last_export_at",
        "next_control_number",
        "cursor",
        "last_error",
    ]
    list_filter = ["enabled", "format"]
    search_fields = ["name", "host", "customer__name", "customer__account_number"]
    list_select_related = ["customer"]
    readonly_fields = ["cursor", "next_control_number", "last_export_at", "last_error", "last_error_at", "schedule"]
    inlines = [ExportInline]
    actions = ["export_now"]
    fieldsets = [
        (None, {"fields": ["customer", "name", "enabled", "format", "interval_minutes", "schedule"]}),
        (
            "Server",
            {
                "fields": [
                    "host",
                    "port",
                    "username",
                    "password",
                    "private_key",
                    "passphrase",
                    "host_keys",
                    "remote_dir",
                ]
            },
        ),
        (
            "EDI identifiers",
            {
                "fields": [
                    ("isa_sender_qualifier", "isa_sender_id"),
                    ("isa_receiver_qualifier", "isa_receiver_id"),
                    ("gs_sender_id", "gs_receiver_id"),
                    ("unb_sender_qualifier", "unb_sender"),
                    ("unb_recipient_qualifier", "unb_recipient"),
                    "test_indicator",
                ]
            },
        ),
        ("State", {"fields": ["cursor", "next_control_number", "last_export_at", "last_error", "last_error_at"]}),
    ]

    @admin.display(description="periodic task")
    def schedule(self, obj: SftpDestination) -> str:
        task = obj.periodic_task
        if task is None:
            return "-"
        return format_html(
            '<a href="/admin/django_celery_beat/periodictask/{}/change/">{}</a> ({})',
            task.pk,
            task.name,
            "enabled" if task.enabled else "disabled",
        )

    @admin.action(description="Export now (upload new events at once)")
    def export_now(self, request: HttpRequest, queryset: QuerySet[SftpDestination]) -> None:
        for destination in queryset:
            services.export_enqueue(destination_id=destination.pk)
        self.message_user(request, f"Queued {len(queryset)} export run(s).")


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = [
        "file_name",
        "destination",
        "control_number",
        "status",
        "event_count",
        "size",
        "attempts",
        "created_at",
        "uploaded_at",
    ]
    list_filter = ["status", "format"]
    search_fields = ["file_name", "destination__name", "sha256"]
    list_select_related = ["destination"]
    exclude = ["content"]
    readonly_fields = [
        "destination",
        "control_number",
        "file_name",
        "format",
        "cursor_from",
        "cursor_to",
        "event_count",
        "sha256",
        "size",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "uploaded_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Export]:
        return super().get_queryset(request).defer("content")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
