"""The ops console's action pages (mounted by ``ops.urls``).

Each view checks the model permission its action needs, reads through the
apps' selectors and changes things only through services. Staff login is
enforced by ``admin.site.admin_view`` where the views are mounted.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from carriers.health import CarrierSftpSettings, carrier_sftp_settings, failed_inbound_ids
from carriers.models import Carrier
from carriers.services import inbound_messages_reprocess
from gluey.sftp import SftpError
from notifications.health import endpoint_queues, endpoint_window_deliveries
from notifications.models import WebhookEndpoint
from notifications.services import deliveries_requeue, endpoint_send_test
from notifications.services import endpoint_retry_now as endpoint_retry_now_service
from ops import services as ops_services
from tracking.services import MappingError, code_mappings_csv, code_mappings_import, mapping_rows_from_file
from tracking.tasks import reharmonise_carrier_after_commit

MAX_REPROCESS = settings.OPS_MAX_REPROCESS


def _require(request: HttpRequest, *perms: str) -> None:
    if not request.user.has_perms(perms):
        raise PermissionDenied(f"needs permission: {', '.join(perms)}")


def _back(request: HttpRequest) -> HttpResponseRedirect:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("ops:dashboard")
    return HttpResponseRedirect(target)


def _page(request: HttpRequest, template: str, title: str, **context: Any) -> TemplateResponse:
    return TemplateResponse(request, template, {**admin.site.each_context(request), "title": title, **context})


# --- Carriers --------------------------------------------------------------------------------------


@require_POST
def carrier_reprocess_failed(request: HttpRequest, carrier_id: str) -> HttpResponse:
    """Queue a carrier's failed inbound messages again (oldest first, up to MAX_REPROCESS)."""

    _require(request, "carriers.change_inboundmessage")
    carrier = get_object_or_404(Carrier, pk=carrier_id)
    ids = failed_inbound_ids(carrier_id=carrier.pk, limit=MAX_REPROCESS)
    queued = inbound_messages_reprocess(message_ids=ids) if ids else 0
    more = " More remain: run it again." if len(ids) == MAX_REPROCESS else ""
    messages.success(request, f"Queued {queued} failed message(s) of {carrier.pk} for processing.{more}")
    return _back(request)


@require_POST
def carrier_reharmonise(request: HttpRequest, carrier_id: str) -> HttpResponse:

    _require(request, "carriers.change_carrier")
    carrier = get_object_or_404(Carrier, pk=carrier_id)
    reharmonise_carrier_after_commit(carrier_id=carrier.pk)
    messages.success(
        request,
        f"Re-harmonising {carrier.pk}'s stored events with the current mappings in the background "
        f"(or run: manage.py reharmonise {carrier.pk}).",
    )
    return _back(request)


class SftpScanForm(forms.Form):
    host = forms.CharField(max_length=255)
    port = forms.IntegerField(min_value=1, max_value=65535, initial=22)


class SftpPinForm(SftpScanForm):
    key_line = forms.CharField(widget=forms.HiddenInput)
    confirm = forms.BooleanField(
        label="I have checked this fingerprint with the carrier (by phone, e-mail or their documentation).",
        required=True,
    )


def carrier_sftp_test(request: HttpRequest, carrier_id: str) -> HttpResponse:
    """Test a carrier's sFTP server: show its host key fingerprint; pin it only on explicit confirmation."""

    _require(request, "carriers.view_carrier")
    carrier = get_object_or_404(Carrier, pk=carrier_id)
    current = carrier_sftp_settings(carrier=carrier)
    probe = None
    pin_form = None
    if request.method == "POST" and request.POST.get("action") == "pin":
        _require(request, "carriers.change_carrier")
        pin_form = SftpPinForm(request.POST)
        if pin_form.is_valid():
            data = pin_form.cleaned_data
            try:
                fingerprint = ops_services.carrier_host_key_pin(
                    carrier_id=carrier.pk, host=data["host"], port=data["port"], key_line=data["key_line"]
                )
            except ops_services.OpsError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"Pinned {fingerprint} as {carrier.pk}'s sFTP host key.")
                return HttpResponseRedirect(reverse("ops:carrier-sftp-test", args=[carrier.pk]))
        scan_form = SftpScanForm(request.POST)
    elif request.method == "POST":
        # A connection test is an outbound connection: it needs change rights, and only the carrier's
        # own configured server may be tried (the address policy applies too), so the form cannot
        # be used to probe other hosts or ports.
        _require(request, "carriers.change_carrier")
        scan_form = SftpScanForm(request.POST)
        if scan_form.is_valid() and not _is_configured(current, scan_form.cleaned_data):
            scan_form.add_error(
                None,
                f"Only {carrier.pk}'s configured server ({current['host'] or 'none'}:{current['port']}) can be tested; "
                "change host and port on the carrier first.",
            )
        if scan_form.is_valid():
            probe = ops_services.carrier_sftp_probe(
                carrier=carrier, host=scan_form.cleaned_data["host"], port=scan_form.cleaned_data["port"]
            )
            if probe.can_pin:
                pin_form = SftpPinForm(initial={"host": probe.host, "port": probe.port, "key_line": probe.key_line})
    else:
        scan_form = SftpScanForm(initial={"host": current["host"], "port": current["port"]})
    return _page(
        request,
        "admin/ops/sftp_test.html",
        f"Test sFTP connection: {carrier.pk}",
        carrier=carrier,
        current=current,
        pinned=[(line, _fingerprint_or_problem(line)) for line in current["pinned"]],
        probe=probe,
        scan_form=scan_form,
        pin_form=pin_form,
        pin_fingerprint=_fingerprint_or_problem(pin_form["key_line"].value() or "") if pin_form is not None else "",
        can_pin=request.user.has_perm("carriers.change_carrier"),
    )


def _is_configured(current: CarrierSftpSettings, data: dict[str, Any]) -> bool:
    try:
        port = int(current["port"])
    except (TypeError, ValueError):
        return False
    return bool(current["host"]) and (data["host"], data["port"]) == (current["host"], port)


def _fingerprint_or_problem(line: str) -> str:
    try:
        return ops_services.key_fingerprint(line)
    except SftpError as exc:
        return f"unreadable: {exc}"


# --- Customer endpoints ------------------------------------------------------------------------


class ReplayForm(forms.Form):
    since = forms.DateTimeField(
        help_text="UTC, e.g. 2026-11-28 09:00", widget=forms.DateTimeInput(attrs={"placeholder": "2026-11-28 09:00"})
    )
    until = forms.DateTimeField(required=False, help_text="UTC; empty = up to now")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            raise forms.ValidationError("'until' must be after 'since'.")
        return data


def endpoint_replay(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """Replay an endpoint's deliveries created in a window (delivered and dead-lettered ones; same webhook-id)."""

    _require(request, "notifications.change_delivery")
    endpoint = get_object_or_404(WebhookEndpoint.objects.select_related("customer"), pk=endpoint_id)
    form = ReplayForm(request.POST if request.method == "POST" else (request.GET or None))
    preview = None
    if form.is_bound and form.is_valid():
        window, by_status = endpoint_window_deliveries(
            endpoint=endpoint, since=form.cleaned_data["since"], until=form.cleaned_data["until"]
        )
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            if not endpoint.is_active:
                messages.error(request, "The endpoint is disabled: enable it first, then replay.")
            else:
                count = deliveries_requeue(deliveries=window)
                messages.success(request, f"Queued {count} delivery(ies) to {endpoint.url} to be sent again.")
                return HttpResponseRedirect(reverse("ops:dashboard"))
        preview = {"by_status": by_status, "replayable": by_status.get("delivered", 0) + by_status.get("dead", 0)}
    return _page(
        request,
        "admin/ops/replay.html",
        f"Replay deliveries to {endpoint.url}",
        endpoint=endpoint,
        form=form,
        preview=preview,
    )


@require_POST
def endpoint_test_event(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """Send one start/start/gluey_test event to the endpoint now and show what came back."""

    _require(request, "notifications.change_webhookendpoint")
    endpoint = get_object_or_404(WebhookEndpoint.objects.select_related("customer"), pk=endpoint_id)
    attempt = endpoint_send_test(endpoint=endpoint)
    queue = endpoint_queues().get(endpoint.pk)
    endpoint.refresh_from_db()
    return _page(
        request,
        "admin/ops/test_event.html",
        f"Test event to {endpoint.url}",
        endpoint=endpoint,
        attempt=attempt,
        sent_body=attempt.delivery.body,
        # A test that got through while real deliveries wait behind a retry: offer to send them now.
        release_pending=queue.pending if attempt.succeeded and queue and queue.pending and endpoint.is_active else 0,
    )


@require_POST
def endpoint_retry_now(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """Send a failing endpoint's waiting deliveries now, oldest first, instead of at the next retry."""
    _require(request, "notifications.change_delivery")
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    if not endpoint.is_active:
        messages.error(request, f"{endpoint.url} is disabled: enable it first (Webhook endpoints › Enable).")
        return _back(request)
    waiting = endpoint_retry_now_service(endpoint=endpoint)
    messages.success(request, f"Sending {waiting} waiting delivery(ies) to {endpoint.url} now, oldest first.")
    return _back(request)


# --- Code mappings as CSV (served at the code-mapping admin's address) ------------------------------------------


class CarrierChoiceForm(forms.Form):
    carrier: forms.ModelChoiceField[Any] = forms.ModelChoiceField(queryset=None, empty_label=None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:

        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["carrier"]).queryset = Carrier.objects.order_by("id")


class MappingImportForm(CarrierChoiceForm):
    file = forms.FileField(
        help_text="CSV with columns carrier_code, carrier_sub_code, milestone, code, sub_code[, note]."
    )


def mappings_export_csv(request: HttpRequest) -> HttpResponse:

    _require(request, "tracking.view_codemapping")
    form = CarrierChoiceForm(request.GET or None)
    if not form.is_bound or not form.is_valid():
        return _page(request, "admin/ops/mappings_export.html", "Export a carrier's code mappings", form=form)
    carrier = form.cleaned_data["carrier"]
    response = HttpResponse(code_mappings_csv(carrier_id=carrier.pk), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="{carrier.pk}-code-mappings-{stamp}.csv"'
    return response


def mappings_import_csv(request: HttpRequest) -> HttpResponse:
    """Import a carrier's mappings: every row is checked first; one bad row and nothing changes."""

    _require(request, "tracking.add_codemapping", "tracking.change_codemapping")
    form = MappingImportForm(
        request.POST or None, request.FILES or None, initial={"carrier": request.GET.get("carrier")}
    )
    if request.method == "POST" and form.is_valid():
        carrier = form.cleaned_data["carrier"]
        upload = form.cleaned_data["file"]
        try:
            if upload.size > settings.CODE_MAP_MAX_BYTES:  # refuse before reading it into memory
                raise MappingError(f"the file is {upload.size} bytes; the limit is {settings.CODE_MAP_MAX_BYTES}")
            rows = mapping_rows_from_file(data=upload.read(), max_bytes=settings.CODE_MAP_MAX_BYTES)
            counts = code_mappings_import(carrier_id=carrier.pk, rows=rows, reharmonise=False)
        except MappingError as exc:
            form.add_error("file", f"Nothing imported: {exc}")
        else:
            if counts["created"] or counts["updated"]:
                reharmonise_carrier_after_commit(
                    carrier_id=carrier.pk, codes=sorted({row.carrier_code for row in rows})
                )
            messages.success(
                request,
                f"{carrier.pk}: {len(rows)} row(s) — {counts['created']} created, {counts['updated']} updated, "
                f"{counts['unchanged']} unchanged. Stored events with these codes are re-harmonised in the background.",
            )
            return HttpResponseRedirect(
                reverse("admin:tracking_codemapping_changelist") + f"?carrier__id__exact={carrier.pk}"
            )
    return _page(request, "admin/ops/mappings_import.html", "Import a carrier's code mappings", form=form)
