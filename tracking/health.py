"""Read-only numbers about tracking health, for the ops console and /metrics.

Every function is a pure read; those that depend on the time take ``now`` (or
``since``) so callers and tests agree on one clock. Results are keyed by carrier id.

- ``events_per_hour(*, now, hours=24)`` — events recorded per carrier per hour.
- ``freshness_histograms(*, since)`` — carrier event time → recorded time, bucketed.
- ``last_event_recorded()`` — when each carrier's last event was recorded.
- ``events_recorded_totals()`` — events stored per carrier.
- ``unmapped_code_counts()`` — unmapped codes (and the events behind them) per carrier.
- ``poll_schedules(*, now)`` — polling queue per carrier: next check, due count, lag.
- ``shipment_for_timeline()`` — a recent shipment, for a link to its timeline.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max, Min, Q, Sum
from django.db.models.functions import TruncHour

from tracking.models import Shipment, TrackedItem, TrackingEvent, UnmappedCode

# Upper bounds (seconds) of the freshness buckets: 1 min, 5 min, 15 min, 1 h, 4 h, 1 day; then +Inf.
FRESHNESS_BUCKETS: tuple[float, ...] = (60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)
FRESHNESS_LABELS: tuple[str, ...] = ("≤1m", "≤5m", "≤15m", "≤1h", "≤4h", "≤1d", ">1d")


def _hour(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def events_per_hour(*, now: datetime, hours: int = 24) -> dict[str, list[tuple[datetime, int]]]:
    """Per carrier, ``hours`` (hour start, events recorded) pairs, oldest first, zeros included.

    The last pair is the current, partial hour.
    """
    first = _hour(now) - timedelta(hours=hours - 1)
    rows = (
        TrackingEvent.objects.filter(recorded_at__gte=first, recorded_at__lte=now)
        .annotate(hour=TruncHour("recorded_at"))
        .values("carrier_id", "hour")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[str, dict[datetime, int]] = defaultdict(dict)
    for row in rows:
        counts[row["carrier_id"]][_hour(row["hour"])] = row["n"]
    slots = [first + timedelta(hours=i) for i in range(hours)]
    return {carrier: [(slot, by_hour.get(slot, 0)) for slot in slots] for carrier, by_hour in counts.items()}


@dataclass
class Freshness:
    """Delay from the carrier's event time to our recorded time, over a window.

    ``cumulative[i]`` counts events with delay ≤ ``FRESHNESS_BUCKETS[i]``;
    ``count`` is all of them (the +Inf bucket); ``sum_seconds`` their total delay.
    """

    cumulative: list[int] = field(default_factory=lambda: [0] * len(FRESHNESS_BUCKETS))
    count: int = 0
    sum_seconds: float = 0.0

    @property
    def per_bucket(self) -> list[int]:
        """Counts per bucket (not cumulative), the last one being > the largest bound."""
        bounds = [*self.cumulative, self.count]
        return [bounds[0]] + [bounds[i] - bounds[i - 1] for i in range(1, len(bounds))]

    @property
    def median_label(self) -> str:
        """The bucket holding the median delay, e.g. '≤5m' ('—' without events)."""
        if not self.count:
            return "—"
        half = (self.count + 1) / 2
        for label, upto in zip(FRESHNESS_LABELS, [*self.cumulative, self.count]):
            if upto >= half:
                return label
        return FRESHNESS_LABELS[-1]


def freshness_histograms(*, since: datetime) -> dict[str, Freshness]:
    """Per carrier, the freshness of events recorded since ``since`` (one query)."""
    delay = ExpressionWrapper(F("recorded_at") - F("occurred_at"), output_field=DurationField())
    aggregates = {
        f"le{i}": Count("id", filter=Q(delay__lte=timedelta(seconds=bound)))
        for i, bound in enumerate(FRESHNESS_BUCKETS)
    }
    rows = (
        TrackingEvent.objects.filter(recorded_at__gte=since)
        .annotate(delay=delay)
        .values("carrier_id")
        .annotate(total=Count("id"), delay_sum=Sum("delay"), **aggregates)
        .order_by()
    )
    result = {}
    for typed_row in rows:
        row = cast(dict[str, Any], typed_row)  # the le<i> keys are built, not literal
        total_delay = row["delay_sum"]
        result[row["carrier_id"]] = Freshness(
            cumulative=[row[f"le{i}"] for i in range(len(FRESHNESS_BUCKETS))],
            count=row["total"],
            sum_seconds=total_delay.total_seconds() if total_delay is not None else 0.0,
        )
    return result


def last_event_recorded() -> dict[str, datetime]:
    """When each carrier's most recent event was recorded (carriers without events are absent)."""
    rows = (
        TrackedItem.objects.filter(last_event_recorded_at__isnull=False)
        .values("carrier_id")
        .annotate(last=Max("last_event_recorded_at"))
        .order_by()
    )
    return {row["carrier_id"]: row["last"] for row in rows}


def events_recorded_totals() -> dict[str, int]:
    """Events stored per carrier (events of numbers nobody registered are purged after retention)."""
    rows = TrackingEvent.objects.values("carrier_id").annotate(n=Count("id")).order_by()
    return {row["carrier_id"]: row["n"] for row in rows}


@dataclass
class UnmappedSummary:
    codes: int
    events: int


def unmapped_code_counts() -> dict[str, UnmappedSummary]:
    rows = UnmappedCode.objects.values("carrier_id").annotate(codes=Count("id"), events=Sum("count")).order_by()
    return {row["carrier_id"]: UnmappedSummary(codes=row["codes"], events=row["events"] or 0) for row in rows}


@dataclass
class PollSchedule:
    """A carrier's polling queue: ``next_check_at`` of its tracked items."""

    scheduled: int  # items with a next check at all
    due: int  # items whose check time has passed
    next_check_at: datetime | None  # the earliest scheduled check
    lag_seconds: float  # how long the most overdue item has waited (0 when none is due)


def poll_schedules(*, now: datetime) -> dict[str, PollSchedule]:
    rows = (
        TrackedItem.objects.filter(next_check_at__isnull=False)
        .values("carrier_id")
        .annotate(
            scheduled=Count("id"),
            due=Count("id", filter=Q(next_check_at__lte=now)),
            earliest=Min("next_check_at"),
        )
        .order_by()
    )
    result = {}
    for row in rows:
        earliest = row["earliest"]
        lag = max((now - earliest).total_seconds(), 0.0) if row["due"] else 0.0
        result[row["carrier_id"]] = PollSchedule(
            scheduled=row["scheduled"], due=row["due"], next_check_at=earliest, lag_seconds=lag
        )
    return result


def shipment_for_timeline() -> Shipment | None:
    """The most recently updated shipment with events (else any), for a 'see a timeline' link."""
    with_events = (
        Shipment.objects.filter(tracked_item__last_event_recorded_at__isnull=False)
        .order_by("-tracked_item__last_event_recorded_at")
        .first()
    )
    return with_events or Shipment.objects.order_by("-created_at").first()


def event_latency_per_hour(*, since: datetime) -> dict[str, dict[datetime, float]]:
    """Per carrier and hour recorded: the mean seconds from the carrier's event time to recording."""
    rows = (
        TrackingEvent.objects.filter(recorded_at__gte=_hour(since))
        .annotate(hour=TruncHour("recorded_at"))
        .values("carrier_id", "hour")
        .annotate(lag=Avg(F("recorded_at") - F("occurred_at")))
        .order_by()
    )
    result: dict[str, dict[datetime, float]] = defaultdict(dict)
    for row in rows:
        lag = row["lag"]
        result[row["carrier_id"]][_hour(row["hour"])] = max(lag.total_seconds(), 0.0) if lag is not None else 0.0
    return dict(result)
