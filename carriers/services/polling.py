"""API polling (1c): the dispatcher that takes due tracked items, and the batch poll.

The dispatcher runs every minute. Per polling carrier it first fits the
cadence to the carrier's budget (``carrier_cadence_plan``), then takes at most
as many due items as the budget allows in the next minute and leases them
through ``tracking.services.scheduling`` (which owns the schedule columns), and
queues one poll task per request-sized batch after commit. A number that has
broken a request before is polled alone, so one bad number cannot sink a batch.

A poll task spends quota for every HTTP request it makes (token requests
included), asks the carrier, stores the raw answer as an InboundMessage with
the numbers asked, records its events and reschedules each item.

Failures: 429/5xx/network and refused credentials are about the carrier, which
backs off (a 401 is retried once with a fresh token first; credentials refused
twice raise an ops alert). A 400 is about the numbers in the request: each
counts a failure, and a number that fails ``POLL_ISOLATE_AFTER`` times in a
row is isolated — no longer polled, listed for ops — while the carrier's other
numbers go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from carriers.adapters.base import CarrierError, PollResult, QuotaWait
from carriers.adapters.registry import adapter_class, adapter_for
from carriers.models import Carrier, ItemState, SubscriptionStatus
from carriers.services.channels import carrier_polls, polling_adapters
from carriers.services.inbound import inbound_message_process, inbound_message_store
from carriers.services.limits import Budget, carrier_budget, quota_acquire, quota_available
from tracking.models import Parcel, Shipment, TrackedItem
from tracking.services import (
    CheckOutcome,
    tracked_items_check_soon,
    tracked_items_postpone,
    tracked_items_set_checks,
    tracked_items_take_due,
)

log = logging.getLogger(__name__)

# Tunables (declared with their environment variables in gluey/settings.py).
LEASE = timedelta(seconds=settings.POLL_LEASE_SECONDS)
# Longest gap between two checks of a quiet item (and of any item when the budget is short).
MAX_INTERVAL = timedelta(seconds=settings.POLL_MAX_INTERVAL_SECONDS)
MAX_STRETCHED_INTERVAL = timedelta(seconds=settings.POLL_MAX_STRETCHED_INTERVAL_SECONDS)
BACKOFF_BASE = timedelta(seconds=settings.POLL_BACKOFF_BASE_SECONDS)
BACKOFF_MAX = timedelta(seconds=settings.POLL_BACKOFF_MAX_SECONDS)
PERMANENT_BACKOFF = timedelta(seconds=settings.POLL_PERMANENT_BACKOFF_SECONDS)
BUDGET_HEADROOM = settings.POLL_BUDGET_HEADROOM
PLAN_EVERY = timedelta(seconds=settings.POLL_PLAN_SECONDS)
# Shipment meta_data keys that tell a carrier which shipment a number is (README, "Carrier APIs").
HINT_KEYS = ("service", "recipient_postal_code", "origin_country_code", "ship_date", "unique_id")
# Delivered to a pick-up point or depot: keep checking until the receiver collects it.
_AWAITING_COLLECTION = {"to_depot", "pudo_point", "parcel_locker", "post_office"}
_FINAL = {
    ("return_to_sender", "delivery"),
    ("exception", "destroyed"),
    ("start", "order_cancelled"),
}


class RateLimited(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limited for {wait:.1f}s")
        self.wait = wait


def is_final(item: TrackedItem) -> bool:
    if item.status_milestone == "post_delivery":
        return True
    if item.status_milestone == "delivery" and item.status_code == "delivered":
        return item.status_sub_code not in _AWAITING_COLLECTION
    return (item.status_milestone, item.status_code) in _FINAL


def _is_urgent(item: TrackedItem) -> bool:
    """Out for delivery (or a failed attempt today): the next event is hours away, not days."""
    return item.status_milestone == "delivery" and item.status_code in ("out_for_delivery", "attempt")


# --- Cadence ---------------------------------------------------------------------------
#
# Every interval is the carrier's ``poll_interval_minutes`` times a factor for the
# item's situation, times the carrier's stretch (1 when the budget covers the plan).

URGENT_FACTOR = settings.POLL_URGENT_FACTOR
QUIET_FACTORS = ((timedelta(hours=24), 1), (timedelta(days=3), 2), (timedelta(days=7), 4))
IDLE_FACTOR = settings.POLL_IDLE_FACTOR
PUSHED_FACTOR = settings.POLL_PUSHED_FACTOR


def _quiet_factor(quiet: timedelta) -> float:
    for limit, factor in QUIET_FACTORS:
        if quiet < limit:
            return factor
    return IDLE_FACTOR


def _next_midnight(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def next_check_for(
    item: TrackedItem,
    *,
    carrier: Carrier,
    now: datetime,
    policy_days: int,
    invalid: bool,
    had_news: bool,
    budget: Budget | None = None,
    fetches_today: int = 0,
    pushed: bool = False,
) -> datetime | None:
    """When to look at an item again (None: never).

    ``pushed``: the carrier pushes this number's events (a live Track Alert
    subscription), so a poll is only a safety net.
    """
    if is_final(item):
        return None
    last_activity = item.last_event_recorded_at or item.created_at or now
    if now - last_activity > timedelta(days=policy_days):
        return None
    base = timedelta(minutes=max(1, carrier.poll_interval_minutes))
    urgent = _is_urgent(item)
    if invalid:
        # Unknown to the carrier (maybe not scanned yet): try again, less and less often.
        factor: float = 2 ** min(item.check_failures, 6)
    elif urgent:
        factor = URGENT_FACTOR
    elif had_news:
        factor = 1
    else:
        factor = _quiet_factor(now - last_activity)
    if pushed and not invalid:
        factor = max(factor, PUSHED_FACTOR)
    interval = min(base * factor, MAX_INTERVAL)
    stretch = max(1.0, carrier.poll_stretch or 1.0)
    interval = min(interval * stretch, max(interval, MAX_STRETCHED_INTERVAL))
    cap = budget.per_item_day if budget is not None else None
    if cap:
        left = cap - fetches_today
        midnight = _next_midnight(now)
        if left <= 0:
            return midnight
        if not urgent:
            # Spread the day's remaining fetches of this number over the rest of the day.
            interval = max(interval, (midnight - now) / left)
    return now + interval


@dataclass(frozen=True)
class CadencePlan:
    items: int
    wanted_per_day: float
    budget_per_day: float
    stretch: float
    warning: str


def carrier_cadence_plan(*, carrier: Carrier, now: datetime) -> CadencePlan:
    """Fit the cadence to the budget: how many calls a day the scheduled items want, and the stretch.

    Written on the carrier (``poll_stretch``, ``quota_warning``) so every poll
    task reads the same figure and ops see when the budget is short.
    """
    budget = carrier_budget(carrier=carrier)
    base = timedelta(minutes=max(1, carrier.poll_interval_minutes)).total_seconds()
    day_ago, three_days, week = now - timedelta(days=1), now - timedelta(days=3), now - timedelta(days=7)
    activity = Q(last_event_recorded_at__gte=day_ago) | Q(last_event_recorded_at__isnull=True, created_at__gte=day_ago)
    urgent = Q(status_milestone="delivery", status_code__in=["out_for_delivery", "attempt"])
    counts = TrackedItem.objects.filter(carrier=carrier, next_check_at__isnull=False).aggregate(
        total=Count("id"),
        urgent=Count("id", filter=urgent),
        active=Count("id", filter=activity & ~urgent),
        quiet3=Count("id", filter=~activity & ~urgent & (Q(last_event_recorded_at__gte=three_days))),
        quiet7=Count(
            "id",
            filter=~activity & ~urgent & Q(last_event_recorded_at__lt=three_days, last_event_recorded_at__gte=week),
        ),
    )
    idle = counts["total"] - counts["urgent"] - counts["active"] - counts["quiet3"] - counts["quiet7"]
    cap = float(budget.per_item_day or "inf")
    batch = max(1, min(carrier.poll_batch_size, adapter_class(carrier.adapter).poll_batch_size))

    def per_item(factor: float) -> float:
        return min(86400.0 / min(base * factor, MAX_INTERVAL.total_seconds()), cap)

    wanted = (
        counts["urgent"] * per_item(URGENT_FACTOR)
        + counts["active"] * per_item(1)
        + counts["quiet3"] * per_item(2)
        + counts["quiet7"] * per_item(4)
        + idle * per_item(IDLE_FACTOR)
    ) / batch
    available = budget.calls_per_day() * BUDGET_HEADROOM
    stretch = 1.0 if wanted <= available or available == float("inf") else wanted / max(available, 1.0)
    warning = ""
    if stretch > 1.0:
        warning = (
            f"{counts['total']} numbers want about {wanted:.0f} calls a day, the budget allows "
            f"{budget.calls_per_day():.0f}: every polling interval is stretched ×{stretch:.1f}"
        )
        longest = min(base * IDLE_FACTOR, MAX_INTERVAL.total_seconds()) * stretch
        if longest > MAX_STRETCHED_INTERVAL.total_seconds():
            warning += "; even once a day per number does not fit — raise the quota or the poll interval"
    if abs(stretch - carrier.poll_stretch) > 0.01 or warning != carrier.quota_warning:
        Carrier.objects.filter(pk=carrier.pk).update(poll_stretch=stretch, quota_warning=warning[:500])
        carrier.poll_stretch, carrier.quota_warning = stretch, warning[:500]
        if warning:
            log.warning("carrier %s: %s", carrier.pk, warning)
    return CadencePlan(counts["total"], wanted, budget.calls_per_day(), stretch, warning)


# --- Dispatch -----------------------------------------------------------------------


@dataclass
class Dispatched:
    items: int = 0
    batches: int = 0
    per_carrier: dict[str, int] = field(default_factory=dict)


def _publish_batches(carrier_id: str, batches: list[list[int]]) -> None:
    """Queue the poll tasks over one broker connection (hundreds of batches per run are normal)."""
    from carriers.tasks import poll_batch

    with poll_batch.app.producer_or_acquire() as producer:
        for batch in batches:
            poll_batch.apply_async((carrier_id, batch), producer=producer)


def _batches(ids: list[int], batch_size: int) -> list[list[int]]:
    """Request-sized batches; a number that broke a request before travels alone."""
    suspects = set(
        ItemState.objects.filter(tracked_item_id__in=ids, request_failures__gt=0).values_list(
            "tracked_item_id", flat=True
        )
    )
    healthy = [i for i in ids if i not in suspects]
    return [healthy[i : i + batch_size] for i in range(0, len(healthy), batch_size)] + [[i] for i in suspects]


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
        # The plan counts every scheduled number: redone every PLAN_EVERY, not every minute.
        if cache.add(
            f"carriers:cadence-plan:{carrier.pk}:{int(now.timestamp() // PLAN_EVERY.total_seconds())}", 1, 900
        ):
            carrier_cadence_plan(carrier=carrier, now=now)
        batch_size = max(1, min(carrier.poll_batch_size, adapter_class(carrier.adapter).poll_batch_size))
        # Take no more than the next minute's budget can serve, so queues never hold more than we may send.
        budget = min(max_items - result.items, quota_available(carrier=carrier, now=now) * batch_size)
        if budget <= 0:
            continue
        with transaction.atomic():
            ids = tracked_items_take_due(carrier_id=carrier.pk, limit=budget, now=now, lease=LEASE)
            batches = _batches(ids, batch_size)
            if enqueue is None:
                # robust: if the broker is down the items' lease expires and they are taken again.
                transaction.on_commit(partial(_publish_batches, carrier.pk, batches), robust=True)
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
    refused: int = 0
    isolated: int = 0
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


def _registered_hints(item_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """What customers registered about each number (shipment meta_data keys in HINT_KEYS)."""
    hints: dict[int, dict[str, str]] = {}
    for item_id, meta in Shipment.objects.filter(tracked_item_id__in=item_ids).values_list(
        "tracked_item_id", "meta_data"
    ):
        for entry in meta or []:
            if isinstance(entry, dict) and entry.get("key") in HINT_KEYS and entry.get("value"):
                hints.setdefault(item_id, {}).setdefault(str(entry["key"]), str(entry["value"])[:64])
    return hints


def _states(carrier: Carrier, item_ids: Sequence[int]) -> dict[int, ItemState]:
    existing = {s.tracked_item_id: s for s in ItemState.objects.filter(tracked_item_id__in=item_ids)}
    missing = [ItemState(tracked_item_id=i, carrier=carrier) for i in item_ids if i not in existing]
    if missing:
        ItemState.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {s.tracked_item_id: s for s in ItemState.objects.filter(tracked_item_id__in=item_ids)}
    return existing


def _fetches_today(state: ItemState, today: date) -> int:
    return state.fetches_today if state.fetch_day == today else 0


def carrier_backoff(*, carrier: Carrier, error: CarrierError, now: datetime) -> datetime:
    """Pause a carrier after a failed request: its Retry-After, else exponential from one minute.

    A permanent carrier-wide failure (credentials refused after a fresh token,
    plan blocked) is also an ops alert on the carrier until a request succeeds.
    """
    failures = carrier.poll_failures + 1
    if error.retry_after is not None:
        delay = timedelta(seconds=min(max(error.retry_after, 1.0), BACKOFF_MAX.total_seconds()))
    elif error.permanent:
        delay = PERMANENT_BACKOFF
    else:
        delay = min(BACKOFF_BASE * (2 ** min(failures - 1, 10)), BACKOFF_MAX)
    until = now + delay
    fields: dict[str, object] = {
        "backoff_until": until,
        "poll_failures": failures,
        "last_error": str(error)[:500],
        "last_error_at": now,
    }
    if error.permanent:
        fields.update(poll_alert=f"polling paused: {error}"[:500], poll_alert_at=now)
        log.error("carrier %s: %s; polling paused until %s", carrier.pk, error, until)
    Carrier.objects.filter(pk=carrier.pk).update(**fields)
    return until


def _count_refusals(
    *, carrier: Carrier, states: Mapping[int, ItemState], refused: Mapping[int, str], now: datetime
) -> list[int]:
    """Count a refused request against each item; returns the items now isolated."""
    limit = settings.POLL_ISOLATE_AFTER
    isolated = []
    for item_id, reason in refused.items():
        state = states[item_id]
        state.request_failures += 1
        state.last_failure = reason[:500]
        if state.request_failures >= limit and state.isolated_at is None:
            state.isolated_at = now
            isolated.append(item_id)
    ItemState.objects.bulk_update([states[i] for i in refused], ["request_failures", "last_failure", "isolated_at"])
    if isolated:
        tracked_items_postpone(
            item_ids=isolated, until=None, reason=f"isolated after {limit} refused requests", checked_at=now
        )
        log.warning("carrier %s: %d number(s) isolated after %d refused requests", carrier.pk, len(isolated), limit)
    return isolated


def poll_batch_run(*, carrier_id: str, item_ids: Sequence[int], now: datetime | None = None) -> Polled:
    """Poll one batch of tracked items of one carrier. Raises RateLimited when the budget is spent."""
    now = now or timezone.now()
    carrier = Carrier.objects.get(pk=carrier_id)
    items = list(TrackedItem.objects.filter(id__in=list(item_ids), carrier=carrier))
    if not items:
        return Polled(skipped="no items")
    if not carrier_polls(carrier):
        tracked_items_postpone(item_ids=[i.id for i in items], until=None)
        return Polled(skipped="carrier does not poll")
    if carrier.backoff_until and carrier.backoff_until > now:
        tracked_items_postpone(item_ids=[i.id for i in items], until=carrier.backoff_until)
        return Polled(skipped="carrier backing off")

    budget = carrier_budget(carrier=carrier)
    today = now.astimezone(UTC).date()
    states = _states(carrier, [i.id for i in items])
    isolated = [i for i in items if states[i.id].isolated_at is not None]
    if isolated:
        tracked_items_postpone(item_ids=[i.id for i in isolated], until=None)
    capped = [i for i in items if budget.per_item_day and _fetches_today(states[i.id], today) >= budget.per_item_day]
    if capped:
        # The carrier's per-number daily cap is reached: next look after midnight UTC.
        tracked_items_postpone(item_ids=[i.id for i in capped], until=_next_midnight(now))
    items = [i for i in items if i not in isolated and i not in capped]
    if not items:
        return Polled(skipped="numbers isolated or at their daily cap")

    registered = _registered_hints([i.id for i in items])
    # What the customer registered wins over what a reply suggested (a DHL service, a FedEx unique id).
    hints = {i.tracking_id: {**states[i.id].hints, **registered.get(i.id, {})} for i in items}

    def spend(kind: str) -> None:
        wait = quota_acquire(carrier=carrier, now=now)
        if wait > 0:
            raise QuotaWait(wait)

    numbers = [i.tracking_id for i in items]
    try:
        answer = adapter_for(carrier, before_request=spend).poll(numbers, hints)
    except QuotaWait as exc:
        if exc.wait * 2 < LEASE.total_seconds():
            raise RateLimited(exc.wait) from None  # seconds away: the task retries while it holds the lease
        # The hour's or day's budget is spent: hand the numbers back for when it refills, rather than
        # holding them past the lease (the dispatcher would take them again and poll them twice).
        tracked_items_postpone(item_ids=[i.id for i in items], until=now + timedelta(seconds=exc.wait))
        return Polled(skipped=f"quota spent for {exc.wait:.0f}s")
    except CarrierError as exc:
        return _poll_failed(carrier=carrier, items=items, states=states, error=exc, now=now)
    if carrier.poll_failures or carrier.backoff_until or carrier.poll_alert:
        Carrier.objects.filter(pk=carrier.pk).update(poll_failures=0, backoff_until=None, poll_alert="")
    return _poll_answered(
        carrier=carrier, items=items, states=states, answer=answer, hints=hints, budget=budget, now=now
    )


def _poll_failed(
    *, carrier: Carrier, items: list[TrackedItem], states: dict[int, ItemState], error: CarrierError, now: datetime
) -> Polled:
    if not error.carrier_wide:
        # A 400 about this request's numbers: count it against them, poll the carrier's others as usual.
        isolated = _count_refusals(carrier=carrier, states=states, refused={i.id: str(error) for i in items}, now=now)
        retry = [i.id for i in items if i.id not in isolated]
        # Alone next time (see _batches), soon, so the culprit of a batch is found quickly.
        tracked_items_postpone(item_ids=retry, until=now + BACKOFF_BASE, checked_at=now)
        log.warning("poll of %s (%d numbers) refused: %s", carrier.pk, len(items), error)
        return Polled(items=len(items), refused=len(items), isolated=len(isolated), error=str(error))
    until = carrier_backoff(carrier=carrier, error=error, now=now)
    tracked_items_postpone(item_ids=[i.id for i in items], until=until, checked_at=now)
    log.warning("poll of %s (%d numbers) failed: %s; backing off until %s", carrier.pk, len(items), error, until)
    return Polled(items=len(items), error=str(error))


def _poll_answered(
    *,
    carrier: Carrier,
    items: list[TrackedItem],
    states: dict[int, ItemState],
    answer: PollResult,
    hints: dict[str, dict[str, str]],
    budget: Budget,
    now: datetime,
) -> Polled:
    today = now.astimezone(UTC).date()
    by_number = {i.tracking_id: i for i in items}
    stored = inbound_message_store(
        carrier=carrier,
        channel="poll",
        body=answer.body,
        content_type=answer.content_type,
        process=False,
        asked=hints,
    )
    news: set[str] = set()
    events = 0
    problems: dict[str, str] = {}
    learned: dict[str, dict[str, str]] = {k: dict(v) for k, v in answer.learned.items()}
    if not stored.duplicate:
        outcome = inbound_message_process(message_id=stored.message.pk)
        events = outcome.created
        problems = outcome.problems
        if stored.message.asked:
            selection = adapter_for(carrier).select_reply(answer.body, stored.message.asked)
            for number, facts in selection.learned.items():
                learned.setdefault(number, {}).update(facts)
        if outcome.created:
            news = set(
                TrackedItem.objects.filter(
                    id__in=[i.id for i in items], events__inbound_message_id=stored.message.pk
                ).values_list("tracking_id", flat=True)
            )
    refused = {by_number[n].id: reason for n, reason in answer.refused.items() if n in by_number}
    isolated = _count_refusals(carrier=carrier, states=states, refused=refused, now=now) if refused else []
    changed = []
    for item in items:
        state = states[item.id]
        state.fetches_today = _fetches_today(state, today) + 1
        state.fetch_day = today
        if item.id not in refused:
            state.request_failures, state.last_failure = 0, ""
        if item.tracking_id in problems:
            state.reply_problem, state.reply_problem_at = problems[item.tracking_id][:500], now
        if item.tracking_id in learned:
            state.hints = {**state.hints, **learned[item.tracking_id]}
        changed.append(state)
    ItemState.objects.bulk_update(
        changed,
        [
            "fetches_today",
            "fetch_day",
            "request_failures",
            "last_failure",
            "reply_problem",
            "reply_problem_at",
            "hints",
        ],
    )
    policy = _policy_days([i.id for i in items])
    # The recorded events may have moved the items' state: read it again for the cadence.
    fresh = {i.id: i for i in TrackedItem.objects.filter(id__in=[i.id for i in items])}
    outcomes = []
    for item in items:
        if item.id in isolated:
            continue
        current = fresh.get(item.id, item)
        not_found = item.tracking_id in answer.invalid
        if not_found:
            current.check_failures += 1
        reason = answer.invalid.get(item.tracking_id) or answer.refused.get(item.tracking_id, "")
        outcomes.append(
            CheckOutcome(
                item_id=item.id,
                next_check_at=next_check_for(
                    current,
                    carrier=carrier,
                    now=now,
                    policy_days=policy.get(item.id, settings.UNREGISTERED_RETENTION_DAYS),
                    invalid=not_found,
                    had_news=item.tracking_id in news,
                    budget=budget,
                    fetches_today=states[item.id].fetches_today,
                    pushed=states[item.id].subscription == SubscriptionStatus.ACTIVE,
                ),
                not_found=not_found,
                reason=reason,
            )
        )
    tracked_items_set_checks(outcomes=outcomes, now=now)
    return Polled(
        items=len(items), events=events, invalid=len(answer.invalid), refused=len(refused), isolated=len(isolated)
    )


# --- Ops actions and the registration hook ----------------------------------------------


def item_states_release(*, item_ids: Iterable[int], now: datetime | None = None) -> int:
    """Ops: poll isolated numbers again (their failure count starts from zero)."""
    now = now or timezone.now()
    ids = list(ItemState.objects.filter(tracked_item_id__in=list(item_ids)).values_list("tracked_item_id", flat=True))
    ItemState.objects.filter(tracked_item_id__in=ids).update(isolated_at=None, request_failures=0, last_failure="")
    tracked_items_postpone(item_ids=ids, until=now, reason="")
    return len(ids)


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
        ids = [i.id for i in by_carrier[carrier.pk] if not is_final(i)]
        # Items already due soon (or leased to a running poll) keep their slot; isolated ones stay out.
        isolated = set(
            ItemState.objects.filter(tracked_item_id__in=ids, isolated_at__isnull=False).values_list(
                "tracked_item_id", flat=True
            )
        )
        ids = [i for i in ids if i not in isolated]
        count += tracked_items_check_soon(item_ids=ids, now=now, keep_before=now + LEASE)
    return count
