"""Admin for webhook endpoints, deliveries (with attempts), sFTP destinations and exports.

Actions call services; nothing here changes rows directly.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

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
            raise forms.ValidationError(exc.reason) from None


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

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:endpoint_id>/test/",
                self.admin_site.admin_view(self.test_one),
                name="notifications_webhookendpoint_test",
            ),
            *super().get_urls(),
        ]

    def test_one(self, request: HttpRequest, endpoint_id: int) -> HttpResponseRedirect:
        if request.method != "POST" or not request.user.has_perm("notifications.change_webhookendpoint"):
            raise PermissionDenied("needs a POST and permission: notifications.change_webhookendpoint")
        endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
        self.send_test_event(request, WebhookEndpoint.objects.filter(pk=endpoint.pk))
        return HttpResponseRedirect(reverse("admin:notifications_webhookendpoint_change", args=[endpoint.pk]))

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
    """Deliveries are records: read-only, with Replay and Retry now as buttons on the page."""

    # The columns that matter first; long values are cut in the list, whole on the record.
    list_display = [
        "status",
        "last_status_code",
        "short_error",
        "attempt_count",
        "created_at",
        "next_attempt_at",
        "endpoint",
        "customer",
        "event_count",
        "kind",
        "msg_id",
    ]
    list_filter = ["status", "kind", ("endpoint", admin.RelatedOnlyFieldListFilter), "customer"]
    search_fields = ["msg_id", "endpoint__url", "customer__name", "customer__account_number"]
    list_select_related = ["endpoint", "customer"]
    date_hierarchy = "created_at"
    inlines = [DeliveryAttemptInline]
    actions = ["replay"]
    exclude = ["body"]
    readonly_fields = [
        "status",
        "links",
        "last_status_code",
        "last_error",
        "attempt_count",
        "created_at",
        "next_attempt_at",
        "deadline_at",
        "delivered_at",
        "dead_at",
        "endpoint",
        "customer",
        "msg_id",
        "kind",
        "event_count",
        "first_event_id",
        "last_event_id",
        "schedule_step",
        "replay_count",
        "replayed_at",
        "payload",
    ]

    @admin.display(description="last response", ordering="last_status_code")
    def last_response(self, obj: Delivery) -> str:
        return str(obj.last_status_code or "—")

    @admin.display(description="error")
    def short_error(self, obj: Delivery) -> str:
        return obj.last_error[:80]

    @admin.display(description="goes with")
    def links(self, obj: Delivery) -> str:
        shipments: list[str] = []
        try:
            for item in json.loads(obj.body)[:100]:
                if isinstance(item, dict) and item.get("shipment_id") and item["shipment_id"] not in shipments:
                    shipments.append(str(item["shipment_id"]))
        except ValueError:
            pass
        parts = [
            format_html(
                '<a href="{}">endpoint {}</a>',
                reverse("admin:notifications_webhookendpoint_change", args=[obj.endpoint_id]),
                obj.endpoint,
            ),
            format_html(
                '<a href="{}">all deliveries to it</a>',
                reverse("admin:notifications_delivery_changelist") + f"?endpoint__id__exact={obj.endpoint_id}",
            ),
        ]
        if obj.first_event_id:
            parts.append(
                format_html(
                    '<a href="{}">its {} event(s)</a>',
                    reverse("admin:tracking_trackingevent_changelist")
                    + f"?id__gte={obj.first_event_id}&id__lte={obj.last_event_id or obj.first_event_id}",
                    obj.event_count,
                )
            )
        parts += [
            format_html('<a href="{}">shipment {}</a>', reverse("admin:tracking_shipment_change", args=[pk]), pk[:8])
            for pk in shipments[:10]
        ]
        return format_html_join(" · ", "{}", ((p,) for p in parts))

    @admin.display(description="body")
    def payload(self, obj: Delivery) -> str:
        return format_html('<pre class="payload">{}</pre>', obj.body[:20000])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Replay: send the selected deliveries again (same webhook-id)")
    def replay(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = services.deliveries_requeue(deliveries=queryset)
        self.message_user(request, f"Queued {count} delivery(ies) to be sent again.")

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:delivery_id>/replay/",
                self.admin_site.admin_view(self.replay_one),
                name="notifications_delivery_replay",
            ),
            path(
                "<int:delivery_id>/retry-now/",
                self.admin_site.admin_view(self.retry_now),
                name="notifications_delivery_retry_now",
            ),
            *super().get_urls(),
        ]

    def _record_action(self, request: HttpRequest, delivery_id: int) -> Delivery:
        if request.method != "POST":
            raise PermissionDenied("use the button on the delivery's page")
        if not request.user.has_perm("notifications.change_delivery"):
            raise PermissionDenied("needs permission: notifications.change_delivery")
        return get_object_or_404(Delivery.objects.select_related("endpoint"), pk=delivery_id)

    def replay_one(self, request: HttpRequest, delivery_id: int) -> HttpResponseRedirect:
        delivery = self._record_action(request, delivery_id)
        count = services.deliveries_requeue(deliveries=Delivery.objects.filter(pk=delivery.pk))
        if count:
            self.message_user(request, f"Delivery {delivery.msg_id} queued to be sent again (same webhook-id).")
        else:
            self.message_user(
                request,
                f"Nothing queued: the delivery is {delivery.status}"
                + ("" if delivery.endpoint.is_active else " and its endpoint is disabled"),
                messages.WARNING,
            )
        return HttpResponseRedirect(reverse("admin:notifications_delivery_change", args=[delivery.pk]))

    def retry_now(self, request: HttpRequest, delivery_id: int) -> HttpResponseRedirect:
        delivery = self._record_action(request, delivery_id)
        waiting = services.endpoint_retry_now(endpoint=delivery.endpoint)
        self.message_user(
            request, f"Sending {waiting} waiting delivery(ies) to {delivery.endpoint.url} now, oldest first."
        )
        return HttpResponseRedirect(reverse("admin:notifications_delivery_change", args=[delivery.pk]))


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
            raise forms.ValidationError({exc.field: exc.reason} if exc.field in self.fields else str(exc)) from None
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

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:destination_id>/export-now/",
                self.admin_site.admin_view(self.export_now_one),
                name="notifications_sftpdestination_export_now",
            ),
            *super().get_urls(),
        ]

    def export_now_one(self, request: HttpRequest, destination_id: int) -> HttpResponseRedirect:
        if request.method != "POST" or not request.user.has_perm("notifications.change_sftpdestination"):
            raise PermissionDenied("needs a POST and permission: notifications.change_sftpdestination")
        destination = get_object_or_404(SftpDestination, pk=destination_id)
        services.export_enqueue(destination_id=destination.pk)
        self.message_user(request, f"Export run for {destination.name} queued; its result shows here when it ends.")
        return HttpResponseRedirect(reverse("admin:notifications_sftpdestination_change", args=[destination.pk]))

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

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a record: the file went out (or will); "Export now" is on its destination

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
