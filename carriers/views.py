"""The inbound carrier webhook: POST /carriers/{carrier_id}/webhook (docs/architecture.md, "Inbound carrier webhooks").

Order matters: find the carrier, refuse oversize bodies, authenticate (nothing
is stored for a request that fails), check the body is something the adapter
accepts, then store it and answer 202 at once — processing happens in a task
queued when the row is committed. The same body again answers 200, marked
duplicate.
"""

from __future__ import annotations

import logging
import re
import time

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from carriers.adapters.base import CarrierError, WebhookAuthError, WebhookRequest
from carriers.adapters.common import utf8_problem
from carriers.adapters.registry import UnknownAdapter, adapter_for
from carriers.models import CARRIER_ID_PATTERN, Carrier
from carriers.services.channels import carrier_channels
from carriers.services.inbound import MAX_WEBHOOK_BYTES, inbound_message_store
from carriers.services.refusals import webhook_refusal_record
from tracking.services import InvalidEvent, events_check

log = logging.getLogger(__name__)

# The shape every carrier id has (Carrier.id's validator).
_CARRIER_ID = re.compile(CARRIER_ID_PATTERN)


# Carriers are looked up on every webhook; keep them a few seconds per process.
# A save in this process clears the entry at once (carriers.receivers); other
# processes see a change within CARRIER_CACHE_SECONDS (a setting).
CARRIER_CACHE_SECONDS = settings.CARRIER_CACHE_SECONDS
_carriers: dict[str, tuple[float, Carrier]] = {}


def carrier_cached(carrier_id: str) -> Carrier | None:
    hit = _carriers.get(carrier_id)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    carrier = Carrier.objects.filter(pk=carrier_id, enabled=True).defer("credentials").first()
    if carrier is None:
        _carriers.pop(carrier_id, None)
    elif len(_carriers) < 10_000:
        _carriers[carrier_id] = (now + CARRIER_CACHE_SECONDS, carrier)
    return carrier


def carrier_cache_forget(carrier_id: str) -> None:
    _carriers.pop(carrier_id, None)


def _error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def _refused(carrier: Carrier, status: int, detail: str) -> JsonResponse:
    """Answer a refusal and count it for the ops dashboard (the request itself is not stored)."""
    webhook_refusal_record(carrier_id=carrier.pk, status=status, reason=detail)
    return _error(status, detail)


def _read_body(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it is over the limit (read at most one byte past it)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_WEBHOOK_BYTES:
        return None
    body = request.read(MAX_WEBHOOK_BYTES + 1)
    return None if len(body) > MAX_WEBHOOK_BYTES else body


@csrf_exempt
def carrier_webhook(request: HttpRequest, carrier_id: str) -> JsonResponse:
    if request.method != "POST":
        response = _error(405, f"Method {request.method} not allowed; carriers POST their events here.")
        response["Allow"] = "POST"
        return response
    # An id no carrier can have (a NUL, a slash...) is unknown without asking the database.
    carrier = carrier_cached(carrier_id) if _CARRIER_ID.fullmatch(carrier_id) else None
    if carrier is None:
        return _error(404, f"Unknown carrier {carrier_id!r}.")
    if "webhook" not in carrier_channels(carrier):
        return _error(404, f"Carrier {carrier_id!r} does not receive webhooks.")
    body = _read_body(request)
    if body is None:
        return _refused(carrier, 413, f"Body is larger than {MAX_WEBHOOK_BYTES // (1024 * 1024)} MB.")
    try:
        adapter = adapter_for(carrier)
    except UnknownAdapter as exc:
        log.error("carrier %s has an unknown adapter: %s", carrier.pk, exc)
        return _error(404, f"Carrier {carrier_id!r} is not set up to receive webhooks.")
    # Pushed bodies are JSON, which is UTF-8 (RFC 8259): say so rather than fail the signature check on it.
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _refused(carrier, 400, f"Body rejected: it is not UTF-8: {utf8_problem(body, exc)}.")
    headers = {key.lower(): value for key, value in request.headers.items()}
    try:
        adapter.verify_webhook(WebhookRequest(headers=headers, body=body))
    except WebhookAuthError as exc:
        return _refused(carrier, 401, f"Authentication failed: {exc}.")
    try:
        events = adapter.parse(body)
    except CarrierError as exc:
        return _refused(carrier, 400, f"Body rejected: {exc}.")
    if not events:
        return _refused(carrier, 400, "Body rejected: it holds no events.")
    try:
        # What recording would refuse (NUL or lone surrogates in text, times out of range) is refused here.
        events_check(events=events)
    except InvalidEvent as exc:
        return _refused(carrier, 400, f"Body rejected: {exc}.")
    # One short transaction (INSERT, COMMIT); processing is queued once it has committed.
    stored = inbound_message_store(
        carrier=carrier, channel="webhook", body=body, content_type=request.META.get("CONTENT_TYPE", "")
    )
    if stored.duplicate:
        return JsonResponse(
            {
                "id": stored.message.pk,
                "status": "duplicate",
                "duplicate_of": stored.original.pk if stored.original else None,
            },
            status=200,
        )
    # Some carriers document the status they expect (UPS Track Alert: 200).
    return JsonResponse(
        {"id": stored.message.pk, "status": "accepted", "events": len(events)}, status=adapter.push_ack_status
    )


@csrf_exempt
def carrier_push_token(request: HttpRequest, carrier_id: str) -> JsonResponse:
    """POST /carriers/{carrier_id}/oauth/token: the token URL a carrier fetches before pushing (UPS Track Alert v2)."""
    if request.method != "POST":
        response = _error(405, f"Method {request.method} not allowed; POST grant_type=client_credentials here.")
        response["Allow"] = "POST"
        return response
    carrier = carrier_cached(carrier_id)
    if carrier is None:
        return _error(404, f"Unknown carrier {carrier_id!r}.")
    try:
        adapter = adapter_for(carrier)
    except UnknownAdapter:
        return _error(404, f"Carrier {carrier_id!r} does not issue push tokens.")
    headers = {key.lower(): value for key, value in request.headers.items()}
    form = {key: str(value) for key, value in request.POST.items()}
    try:
        token = adapter.push_token(headers, form)
    except WebhookAuthError as exc:
        response = JsonResponse({"error": "invalid_client", "detail": f"Authentication failed: {exc}."}, status=401)
        response["WWW-Authenticate"] = 'Basic realm="push"'
        return response
    response = JsonResponse(token)
    response["Cache-Control"] = "no-store"
    return response
