"""API polling (1c): the dispatcher that takes due tracked items, and the batch poll.

The dispatcher runs every minute. Per polling carrier it takes at most as
many due items as the carrier's shared token bucket allows this minute, marks
them with a lease (``next_check_at`` pushed forward) in the same short
transaction that locked them — ``SELECT … FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so two dispatchers never take the same item — and queues one
poll task per request-sized batch after commit.

A poll task takes one token, asks the carrier, stores the raw answer as an
InboundMessage, records its events and reschedules each item: stop after
delivery, back off when quiet or unknown to the carrier, expire after the
customers' policy (``Customer.expire_after_days``) without events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from carriers.adapters.base import CarrierError
from carriers.adapters.registry import adapter_class, adapter_for
from carriers.models import Carrier
from carriers.services.channels import carrier_polls, polling_adapters
from carriers.services.inbound import inbound_message_process, inbound_message_store
from carriers.services.limits import rate_limit_acquire, rate_limit_available
from tracking.models import Parcel, Shipment, TrackedItem

log = logging.getLogger(__name__)

# How long a taken item stays reserved for its poll task; a lost task frees it after this.
LEASE = timedelta(minutes=10)
# Longest gap between two checks of a quiet item.
MAX_INTERVAL = timedelta(hours=12)
# Back-off for a carrier whose API keeps failing without a Retry-After.
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
# After credentials or request errors (which retrying will not fix) wait this long.
PERMANENT_BACKOFF = timedelta(minutes=15)
# Delivered to a pick-up point or depot: keep checking until the receiver collects it.
_AWAITING_COLLECTION = {"to_depot", "pudo_point", "parcel_locker", "post_office"}
_FINAL = {
    ("return_to_sender", "delivery"),
    ("exception", "destroyed"),
    ("start", "order_cancelled"),
}
UPDATE_CHUNK = 2000


class RateLimited(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limited for {wait:.1f}s")
        self.wait = wait


def _is_final(item: TrackedItem) -> bool:
    if item.status_milestone == "post_delivery":
        return True
    if item.status_milestone == "delivery" and item.status_code == "delivered":
        return item.status_sub_code not in _AWAITING_COLLECTION
    return (item.status_milestone, item.status_code) in _FINAL


# --- Dispatch -----------------------------------------------------------------------


@dataclass
class Dispatched:
    items: int = 0
    batches: int = 0
    per_carrier: dict[str, int] = field(default_factory=dict)


def _take_due(carrier: Carrier, limit: int, now: datetime) -> list[int]:
    """Lock up to ``limit`` due items (skipping rows another dispatcher holds) and lease them."""
    lease_until = now + LEASE
    if connection.vendor == "postgresql":
        # One statement: pick, lock (SKIP LOCKED) and lease, returning what we took.
        table = TrackedItem._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {table} SET next_check_at = %s
                WHERE id IN (
                    SELECT id FROM {table}
                    WHERE carrier_id = %s AND next_check_at <= %s
                    ORDER BY next_check_at
                    LIMIT %s
                    FOR UPDATE SKIP LOCKED
                )
                RETURNING id, next_check_at
                """,
                [lease_until, carrier.pk, now, limit],
            )
            return [row[0] for row in cursor.fetchall()]
    # SQLite: writers are serialised (BEGIN IMMEDIATE), so select-then-update cannot interleave.
    qs = TrackedItem.objects.filter(carrier=carrier, next_check_at__lte=now).order_by("next_check_at")
    ids = list(qs.values_list("id", flat=True)[:limit])
    for start in range(0, len(ids), UPDATE_CHUNK):
        TrackedItem.objects.filter(id__in=ids[start : start + UPDATE_CHUNK]).update(next_check_at=lease_until)
    return ids


def _publish_batches(carrier_id: str, batches: list[list[int]]) -> None:
    """Queue the poll tasks over one broker connection (hundreds of batches per run are normal)."""
    from carriers.tasks import poll_batch

    with poll_batch.app.producer_or_acquire() as producer:
        for batch in batches:
            poll_batch.apply_async((carrier_id, batch), producer=producer)


def poll_dispatch(
    *,
    now: datetime | None = None,
    max_items: int = 20_000,
    enqueue: Callable[[str, list[int]], object] | None = None,
) -> Dispatched:
    """Take due items of every polling carrier and queue their poll batches.

    ``enqueue(carrier_id, item_ids)`` is called per batch after commit; by
    default the batches go to the ``poll_batch`` task over one connection.
    """
    now = now or timezone.now()
    result = Dispatched()
    carriers = (
        Carrier.objects.filter(enabled=True, adapter__in=polling_adapters())
        .filter(Q(backoff_until__isnull=True) | Q(backoff_until__lte=now))
        .defer("credentials", "webhook_secret")
    )
    for carrier in carriers:
        if not carrier_polls(carrier) or result.items >= max_items:
            continue
        batch_size = max(1, min(carrier.poll_batch_size, adapter_class(carrier.adapter).poll_batch_size))
        # Take no more than this minute's tokens can serve, so queues never hold more than we may send.
        budget = min(max_items - result.items, int(rate_limit_available(carrier=carrier, now=now)) * batch_size)
        if budget <= 0:
            continue
        with transaction.atomic():
            ids = _take_due(carrier, budget, now)
            batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
            if enqueue is None:
                # robust: if the broker is down the items' lease expires and they are taken again.
                transaction.on_commit(
                    lambda carrier_id=carrier.pk, batches=batches: _publish_batches(carrier_id, batches), robust=True
                )
            else:
                for batch in batches:
                    transaction.on_commit(partial(enqueue, carrier.pk, batch))
        result.items += len(ids)
        result.batches += len(batches)
        if ids:
            result.per_carrier[carrier.pk] = len(ids)
    return result


# --- One poll request ----------------------------------------------------------------


@dataclass
class Polled:
    items: int = 0
    events: int = 0
    invalid: int = 0
    error: str = ""
    skipped: str = ""


def _policy_days(item_ids: Sequence[int]) -> dict[int, int]:
    """The longest ``expire_after_days`` among the customers following each item."""
    days: dict[int, int] = {}
    for item_id, value in (
        Shipment.objects.filter(tracked_item_id__in=item_ids)
        .values("tracked_item_id")
        .annotate(days=Max("customer__expire_after_days"))
        .values_list("tracked_item_id", "days")
    ):
        days[item_id] = max(days.get(item_id, 0), value or 0)
    for item_id, value in (
        Parcel.objects.filter(tracked_item_id__in=item_ids)
        .values("tracked_item_id")
        .annotate(days=Max("shipment__customer__expire_after_days"))
        .values_list("tracked_item_id", "days")
    ):
        days[item_id] = max(days.get(item_id, 0), value or 0)
    return days


def next_check_for(
    item: TrackedItem, *, carrier: Carrier, now: datetime, policy_days: int, invalid: bool, had_news: bool
) -> datetime | None:
    """When to look at an item again (None: never)."""
    if _is_final(item):
        return None
    last_activity = item.last_event_recorded_at or item.created_at or now
    if now - last_activity > timedelta(days=policy_days):
        return None
    base = timedelta(minutes=max(1, carrier.poll_interval_minutes))
    if invalid:
        # Unknown to the carrier (maybe not scanned yet): try again, less and less often.
        factor = 2 ** min(item.check_failures, 6)
    elif had_news:
        factor = 1
    else:
        quiet = now - last_activity
        factor = (
            1
            if quiet < timedelta(hours=24)
            else 2
            if quiet < timedelta(days=3)
            else 4
            if quiet < timedelta(days=7)
            else 8
        )
    return now + min(base * factor, MAX_INTERVAL)


def tracked_items_reschedule(
    *, carrier: Carrier, item_ids: Iterable[int], invalid: dict[str, str], news: set[str], now: datetime
) -> None:
    items = list(TrackedItem.objects.filter(id__in=list(item_ids)))
    policy = _policy_days([i.id for i in items])
    default_days = settings.UNREGISTERED_RETENTION_DAYS
    for item in items:
        is_invalid = item.tracking_id in invalid
        if is_invalid:
            item.check_failures += 1
            item.invalid_reason = invalid[item.tracking_id][:300]
        else:
            item.check_failures = 0
            item.invalid_reason = ""
        item.last_checked_at = now
        item.next_check_at = next_check_for(
            item,
            carrier=carrier,
            now=now,
            policy_days=policy.get(item.id, default_days),
            invalid=is_invalid,
            had_news=item.tracking_id in news,
        )
    TrackedItem.objects.bulk_update(items, ["check_failures", "invalid_reason", "last_checked_at", "next_check_at"])


def carrier_backoff(*, carrier: Carrier, error: CarrierError, now: datetime) -> datetime:
    """Pause a carrier after a failed request: its Retry-After, else exponential from one minute."""
    failures = carrier.poll_failures + 1
    if error.retry_after is not None:
        delay = timedelta(seconds=min(max(error.retry_after, 1.0), BACKOFF_MAX.total_seconds()))
    elif error.permanent:
        delay = PERMANENT_BACKOFF
    else:
        delay = min(BACKOFF_BASE * (2 ** min(failures - 1, 10)), BACKOFF_MAX)
    until = now + delay
    Carrier.objects.filter(pk=carrier.pk).update(
        backoff_until=until, poll_failures=failures, last_error=str(error)[:500], last_error_at=now
    )
    return until


def poll_batch_run(*, carrier_id: str, item_ids: Sequence[int], now: datetime | None = None) -> Polled:
    """Poll one batch of tracked items of one carrier. Raises RateLimited when the bucket is empty."""
    now = now or timezone.now()
    carrier = Carrier.objects.get(pk=carrier_id)
    items = list(TrackedItem.objects.filter(id__in=list(item_ids), carrier=carrier).only("id", "tracking_id"))
    if not items:
        return Polled(skipped="no items")
    if not carrier_polls(carrier):
        TrackedItem.objects.filter(id__in=[i.id for i in items]).update(next_check_at=None)
        return Polled(skipped="carrier does not poll")
    if carrier.backoff_until and carrier.backoff_until > now:
        TrackedItem.objects.filter(id__in=[i.id for i in items]).update(next_check_at=carrier.backoff_until)
        return Polled(skipped="carrier backing off")
    wait = rate_limit_acquire(carrier=carrier, now=now)
    if wait > 0:
        raise RateLimited(wait)

    numbers = [i.tracking_id for i in items]
    try:
        answer = adapter_for(carrier).poll(numbers)
    except CarrierError as exc:
        until = carrier_backoff(carrier=carrier, error=exc, now=now)
        TrackedItem.objects.filter(id__in=[i.id for i in items]).update(next_check_at=until, last_checked_at=now)
        log.warning("poll of %s (%d numbers) failed: %s; backing off until %s", carrier.pk, len(numbers), exc, until)
        return Polled(items=len(items), error=str(exc))
    if carrier.poll_failures or carrier.backoff_until:
        Carrier.objects.filter(pk=carrier.pk).update(poll_failures=0, backoff_until=None)

    stored = inbound_message_store(
        carrier=carrier, channel="poll", body=answer.body, content_type=answer.content_type, process=False
    )
    news: set[str] = set()
    events = 0
    if not stored.duplicate:
        outcome = inbound_message_process(message_id=stored.message.pk)
        events = outcome.created
        if outcome.created:
            news = set(
                TrackedItem.objects.filter(
                    id__in=[i.id for i in items], events__inbound_message_id=stored.message.pk
                ).values_list("tracking_id", flat=True)
            )
    tracked_items_reschedule(
        carrier=carrier, item_ids=[i.id for i in items], invalid=dict(answer.invalid), news=news, now=now
    )
    return Polled(items=len(items), events=events, invalid=len(answer.invalid))


# --- Registration hook ------------------------------------------------------------------


def tracked_items_schedule_first_check(*, tracked_items: Iterable[TrackedItem], now: datetime | None = None) -> int:
    """A customer registered these numbers: a polling carrier checks them at the next dispatch."""
    now = now or timezone.now()
    by_carrier: dict[str, list[TrackedItem]] = {}
    for item in tracked_items:
        by_carrier.setdefault(item.carrier_id, []).append(item)
    count = 0
    for carrier in Carrier.objects.filter(pk__in=list(by_carrier)):
        if not carrier_polls(carrier):
            continue
        ids = [i.id for i in by_carrier[carrier.pk] if not _is_final(i)]
        # Items already due soon (or leased to a running poll) keep their slot.
        count += (
            TrackedItem.objects.filter(id__in=ids)
            .filter(Q(next_check_at__isnull=True) | Q(next_check_at__gt=now + LEASE))
            .update(next_check_at=now)
        )
    return count
