"""Sending deliveries: one endpoint at a time, in order, signed per Standard Webhooks.

An endpoint is drained by whichever worker holds its lease (a row update, so
it works across processes and hosts). The lease holder sends the endpoint's
pending deliveries oldest first. On the first failure it records the attempt,
schedules the retry on the delivery *and* the endpoint (``retry_at``), releases
the lease and stops: the endpoint's later deliveries wait behind the failing
one, so a dead endpoint costs one request per retry, never a worker per
delivery, and a healthy endpoint is never queued behind it.

No database transaction is open while a request is in flight.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from standardwebhooks import Webhook

from gluey import http
from notifications import conf
from notifications.models import Delivery, DeliveryAttempt, DeliveryKind, DeliveryStatus, WebhookEndpoint

logger = logging.getLogger(__name__)

GONE_REASON = "endpoint answered 410 Gone"
# Successful sends are written in batches of this many, or after this long.
SUCCESS_FLUSH_COUNT = 50
SUCCESS_FLUSH_SECONDS = 0.25


@dataclass
class DrainResult:
    delivered: int = 0
    failed: int = 0
    busy: bool = False  # another worker holds the endpoint's lease
    more: bool = False  # stopped at the batch budget; a follow-up task was enqueued


# --- Signing ---------------------------------------------------------------------------


def endpoint_signers(*, endpoint: WebhookEndpoint, now: datetime) -> list[Webhook]:
    """The current secret, plus the previous one while a rotation overlaps."""
    signers = [Webhook(endpoint.secret)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        signers.append(Webhook(endpoint.previous_secret))
    return signers


def delivery_headers(*, signers: list[Webhook], msg_id: str, body: str, when: datetime) -> dict[str, str]:
    """Standard Webhooks headers; ``webhook-signature`` holds one ``v1,…`` per secret."""
    seconds = int(when.timestamp())
    stamp = datetime.fromtimestamp(seconds, tz=UTC)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": " ".join(s.sign(msg_id=msg_id, timestamp=stamp, data=body) for s in signers),
    }


# --- Retry timing --------------------------------------------------------------------------


def retry_delay(*, step: int, rng: random.Random | None = None) -> float:
    """Seconds before retry number ``step + 1``: the schedule, then every 12 h, each ±20 %."""
    schedule = conf.retry_schedule()
    base = schedule[step] if step < len(schedule) else conf.retry_every()
    jitter = conf.retry_jitter()
    return base * (1 + (rng or random).uniform(-jitter, jitter))


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """A Retry-After header (delta-seconds or an HTTP date) as seconds from now, capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(int(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 1.0), conf.retry_after_cap())


# --- The endpoint lease ----------------------------------------------------------------------


def _lease_claim(endpoint_id: int, token: str, now: datetime) -> datetime | None:
    until = now + timedelta(seconds=conf.lease_seconds())
    claimed = (
        WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_token=token, lease_until=until)
    )
    return until if claimed else None


def _lease_renew(endpoint_id: int, token: str, now: datetime) -> datetime | None:
    until = now + timedelta(seconds=conf.lease_seconds())
    renewed = WebhookEndpoint.objects.filter(pk=endpoint_id, lease_token=token).update(lease_until=until)
    return until if renewed else None


def _lease_release(endpoint_id: int, token: str) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id, lease_token=token).update(lease_token="", lease_until=None)


def _has_due(endpoint_id: int, now: datetime) -> bool:
    return (
        WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True)
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        .filter(deliveries__status=DeliveryStatus.PENDING)
        .exists()
    )


# --- Recording outcomes ------------------------------------------------------------------------


def _attempt(delivery: Delivery, result: http.PostResult, started: datetime, *, succeeded: bool) -> DeliveryAttempt:
    return DeliveryAttempt(
        delivery_id=delivery.pk,
        number=delivery.attempt_count + 1,
        started_at=started,
        status_code=result.status,
        latency_ms=result.latency_ms,
        response_body=result.body.decode("utf-8", errors="replace"),
        error=result.error[:1000],
        succeeded=succeeded,
    )


def _error_text(result: http.PostResult) -> str:
    if result.error:
        return result.error[:1000]
    if result.status is not None and 300 <= result.status < 400:
        location = result.headers.get("location") or ""
        return f"HTTP {result.status} redirect (not followed){': ' + location[:300] if location else ''}"
    return f"HTTP {result.status}"


class _Successes:
    """Successful sends not yet written: flushed in one transaction every few
    dozen sends, before a failure is recorded and when the drain ends.

    If a worker dies between a send and the flush, those deliveries are sent
    again later with the same ``webhook-id``: at least once, never lost.
    """

    def __init__(self, endpoint_id: int) -> None:
        self.endpoint_id = endpoint_id
        self.items: list[tuple[Delivery, http.PostResult, datetime]] = []
        self.first_at = 0.0

    def add(self, delivery: Delivery, result: http.PostResult, started: datetime) -> None:
        if not self.items:
            self.first_at = time.monotonic()
        self.items.append((delivery, result, started))
        if len(self.items) >= SUCCESS_FLUSH_COUNT or time.monotonic() - self.first_at > SUCCESS_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self.items:
            return
        items, self.items = self.items, []
        now = timezone.now()
        by_status: dict[int | None, list[int]] = {}
        for delivery, result, _ in items:
            by_status.setdefault(result.status, []).append(delivery.pk)
        with transaction.atomic():
            DeliveryAttempt.objects.bulk_create([_attempt(d, r, started, succeeded=True) for d, r, started in items])
            for status, ids in by_status.items():
                Delivery.objects.filter(pk__in=ids).update(
                    status=DeliveryStatus.DELIVERED,
                    delivered_at=now,
                    attempt_count=F("attempt_count") + 1,
                    last_status_code=status,
                    last_error="",
                )
            WebhookEndpoint.objects.filter(pk=self.endpoint_id).update(last_success_at=now)


def _record_failure(endpoint: WebhookEndpoint, delivery: Delivery, result: http.PostResult, started: datetime) -> str:
    """Store the attempt and decide what comes next: 'retry', 'dead' or 'disabled'."""
    now = timezone.now()
    error = _error_text(result)
    attempt = _attempt(delivery, result, started, succeeded=False)
    common = {"attempt_count": F("attempt_count") + 1, "last_status_code": result.status, "last_error": error}
    health = {
        "failing_since": Coalesce(F("failing_since"), now),
        "consecutive_failures": F("consecutive_failures") + 1,
        "last_failure_at": now,
        "last_error": error,
    }
    delivery_rows = Delivery.objects.filter(pk=delivery.pk)
    endpoint_row = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    with transaction.atomic():
        DeliveryAttempt.objects.bulk_create([attempt])
        if result.status == 410:
            delivery_rows.update(status=DeliveryStatus.DEAD, dead_at=now, **common)
            endpoint_row.update(
                is_active=False, disabled_at=now, disabled_reason=f"{GONE_REASON} at {now:%Y-%m-%d %H:%M} UTC", **health
            )
            return "disabled"
        if now >= delivery.deadline_at:
            delivery_rows.update(status=DeliveryStatus.DEAD, dead_at=now, **common)
            # Others that waited behind it past their own window go with it.
            Delivery.objects.filter(
                endpoint_id=endpoint.pk, status=DeliveryStatus.PENDING, deadline_at__lte=now
            ).update(
                status=DeliveryStatus.DEAD, dead_at=now, last_error="retry window passed while the endpoint failed"
            )
            retry_at = now + timedelta(seconds=retry_delay(step=0))
            endpoint_row.update(retry_at=retry_at, **health)
            outcome = "dead"
        else:
            delay = None
            if result.status in (429, 503):
                delay = retry_after_seconds(result.headers.get("retry-after"), now=now)
            if delay is None:
                delay = retry_delay(step=delivery.schedule_step)
            # The last try lands on the deadline rather than past it.
            retry_at = min(now + timedelta(seconds=delay), delivery.deadline_at)
            delivery_rows.update(next_attempt_at=retry_at, schedule_step=F("schedule_step") + 1, **common)
            endpoint_row.update(retry_at=retry_at, **health)
            outcome = "retry"
        wait = (retry_at - now).total_seconds()
        if wait <= conf.countdown_max():
            transaction.on_commit(lambda: _wake_later(endpoint.pk, wait), robust=True)
    return outcome


def _wake_later(endpoint_id: int, seconds: float) -> None:
    from notifications.tasks import delivery_send

    try:
        delivery_send.apply_async((endpoint_id,), countdown=max(seconds, 0))
    except Exception:
        logger.warning("could not enqueue the retry for endpoint %s", endpoint_id, exc_info=True)


def _mark_healthy(endpoint_id: int, now: datetime) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        failing_since=None, consecutive_failures=0, retry_at=None, last_success_at=now
    )


# --- Draining an endpoint -----------------------------------------------------------------------


def _post(endpoint: WebhookEndpoint, delivery: Delivery, signers: list[Webhook]) -> tuple[http.PostResult, datetime]:
    started = timezone.now()
    headers = delivery_headers(signers=signers, msg_id=delivery.msg_id, body=delivery.body, when=started)
    result = http.post(
        endpoint.url,
        body=delivery.body.encode(),
        headers=headers,
        connect_timeout=conf.connect_timeout(),
        total_timeout=conf.total_timeout(),
    )
    return result, started


def _drain(endpoint_id: int, token: str, lease_until: datetime, budget: int, result: DrainResult) -> str:
    """Send pending deliveries in order while they succeed: 'idle', 'blocked' or 'more'."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).first()
    if endpoint is None:
        return "idle"
    now = timezone.now()
    if endpoint.retry_at is not None and endpoint.retry_at > now:
        return "blocked"
    signers = endpoint_signers(endpoint=endpoint, now=now)
    healthy = endpoint.failing_since is None and endpoint.consecutive_failures == 0
    time_budget = time.monotonic() + float(conf.drain_seconds())
    fields = ("id", "msg_id", "body", "attempt_count", "schedule_step", "deadline_at")
    successes = _Successes(endpoint_id)
    sent = 0
    try:
        while sent < budget and time.monotonic() < time_budget:
            limit = min(50, budget - sent)
            successes.flush()  # the rows must say "delivered" before we look for pending ones again
            batch = list(
                Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING)
                .order_by("id")
                .only(*fields)[:limit]
            )
            for delivery in batch:
                now = timezone.now()
                # Each request may take the whole total timeout: keep the lease ahead of it.
                if (lease_until - now).total_seconds() < conf.total_timeout() + 15:
                    renewed = _lease_renew(endpoint_id, token, now)
                    if renewed is None:
                        logger.warning("lost the lease on endpoint %s; stopping", endpoint_id)
                        return "idle"
                    lease_until = renewed
                post, started = _post(endpoint, delivery, signers)
                if post.ok:
                    successes.add(delivery, post, started)
                    result.delivered += 1
                    sent += 1
                    if not healthy:
                        successes.flush()
                        _mark_healthy(endpoint_id, timezone.now())
                        healthy = True
                    continue
                successes.flush()
                result.failed += 1
                outcome = _record_failure(endpoint, delivery, post, started)
                logger.info(
                    "delivery %s to endpoint %s failed (%s): %s",
                    delivery.msg_id,
                    endpoint_id,
                    outcome,
                    _error_text(post),
                )
                return "blocked"
            if len(batch) < limit:
                # Drained; anything committed since is picked up after the lease is let go.
                return "idle"
    finally:
        successes.flush()
    return "more"


def endpoint_deliver(*, endpoint_id: int, max_deliveries: int | None = None) -> DrainResult:
    """Send an endpoint's due deliveries in order, unless another worker already is."""
    budget = max_deliveries or conf.drain_batch()
    token = secrets.token_hex(8)
    result = DrainResult()
    for _ in range(3):
        lease_until = _lease_claim(endpoint_id, token, timezone.now())
        if lease_until is None:
            result.busy = True
            return result
        try:
            state = _drain(endpoint_id, token, lease_until, budget - result.delivered, result)
        finally:
            _lease_release(endpoint_id, token)
        if state == "more":
            # Hand the worker back; the rest of this endpoint's backlog follows in a new task.
            from notifications.services.outbox import endpoints_wake

            endpoints_wake(endpoint_ids=[endpoint_id])
            result.more = True
            return result
        # A delivery committed while we held the lease found it taken and left it
        # to us: look once more after letting go.
        if state != "idle" or not _has_due(endpoint_id, timezone.now()):
            return result
    return result


# --- The admin's test event -------------------------------------------------------------------


def _test_body() -> str:
    from uuid import UUID

    from notifications.services.outbox import body_dumps
    from tracking.models import Shipment, TrackingEvent
    from tracking.representations import webhook_event_dict

    now = timezone.now()
    shipment = Shipment(
        id=UUID(int=0),
        carrier_id="gluey",
        carrier_tracking_id="GLUEYTEST0000000001",
        tracking_level="shipment",
        meta_data=[],
    )
    event = TrackingEvent(
        id=0,
        carrier_code="TEST",
        carrier_text="Test event sent from Gluey",
        milestone="start",
        code="start",
        sub_code="gluey_test",
        occurred_at=now,
        utc_offset_minutes=0,
        recorded_at=now,
        location={},
        carrier_meta=[],
    )
    return body_dumps([webhook_event_dict(shipment=shipment, parcel=None, event=event)])


def endpoint_send_test(*, endpoint: WebhookEndpoint) -> DeliveryAttempt:
    """Send one start/start/gluey_test event now, outside the queue; returns the recorded attempt.

    The test delivery is stored (delivered or dead) for the record and never retried.
    """
    now = timezone.now()
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        customer_id=endpoint.customer_id,
        kind=DeliveryKind.TEST,
        body=_test_body(),
        event_count=1,
        created_at=now,
        next_attempt_at=now,
        deadline_at=now,
        status=DeliveryStatus.DEAD,
        dead_at=now,
    )
    post, started = _post(endpoint, delivery, endpoint_signers(endpoint=endpoint, now=now))
    attempt = _attempt(delivery, post, started, succeeded=post.ok)
    with transaction.atomic():
        attempt.save()
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.DELIVERED if post.ok else DeliveryStatus.DEAD,
            delivered_at=timezone.now() if post.ok else None,
            dead_at=None if post.ok else timezone.now(),
            attempt_count=1,
            last_status_code=post.status,
            last_error="" if post.ok else _error_text(post),
        )
    return attempt
