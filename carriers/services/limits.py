"""Shared state for many workers: each carrier's quota and named leases.

Both live in the database, so every worker and every dispatcher sees the same
numbers (Celery's own ``rate_limit`` is per worker process, which is not what
a carrier's quota means). Each operation is one short transaction on one row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from carriers.adapters.base import Quota
from carriers.adapters.registry import UnknownAdapter, adapter_class
from carriers.models import Carrier, Lease, RateBucket


@dataclass(frozen=True)
class Budget:
    """A carrier's effective quota: its own figures where set, else its adapter's documented ones."""

    per_second: float | None
    burst: int
    per_hour: int | None
    per_day: int | None
    per_item_day: int | None

    def calls_per_day(self) -> float:
        """The most calls a day this budget allows."""
        limits = [float(x) for x in (self.per_day,) if x is not None]
        if self.per_hour is not None:
            limits.append(self.per_hour * 24.0)
        if self.per_second is not None:
            limits.append(self.per_second * 86400.0)
        return min(limits, default=float("inf"))


def carrier_budget(*, carrier: Carrier) -> Budget:
    try:
        default = adapter_class(carrier.adapter).quota
    except UnknownAdapter:
        default = Quota(per_second=1.0, burst=1)

    def pick(own: Any, documented: Any) -> Any:
        return documented if own is None else own

    return Budget(
        per_second=pick(carrier.quota_per_second, default.per_second),
        burst=max(1, int(pick(carrier.quota_burst, default.burst))),
        per_hour=pick(carrier.quota_per_hour, default.per_hour),
        per_day=pick(carrier.quota_per_day, default.per_day),
        per_item_day=pick(carrier.quota_per_item_day, default.per_item_day),
    )


def _hour(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _day(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class _Level:
    tokens: float
    hour_used: int
    day_used: int
    hour_start: datetime
    day_start: datetime


def _level(budget: Budget, bucket: RateBucket, now: datetime) -> _Level:
    if budget.per_second is None:
        tokens = float("inf")
    else:
        elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
        tokens = min(float(budget.burst), bucket.tokens + elapsed * budget.per_second)
    hour, day = _hour(now), _day(now)
    return _Level(
        tokens=tokens,
        hour_used=bucket.hour_used if bucket.hour_start == hour else 0,
        day_used=bucket.day_used if bucket.day_start == day else 0,
        hour_start=hour,
        day_start=day,
    )


def _wait(budget: Budget, level: _Level, units: int, now: datetime) -> float:
    """Seconds until ``units`` calls fit every limit (0: now)."""
    waits = [0.0]
    if budget.per_day is not None and level.day_used + units > budget.per_day:
        waits.append((level.day_start + timedelta(days=1) - now).total_seconds())
    if budget.per_hour is not None and level.hour_used + units > budget.per_hour:
        waits.append((level.hour_start + timedelta(hours=1) - now).total_seconds())
    if budget.per_second is not None and level.tokens < units:
        waits.append((units - level.tokens) / budget.per_second if budget.per_second > 0 else 3600.0)
    return max(waits)


def _bucket_for_update(carrier: Carrier, budget: Budget, now: datetime) -> RateBucket:
    bucket = RateBucket.objects.select_for_update().filter(carrier=carrier).first()
    if bucket is None:
        try:
            with transaction.atomic():
                RateBucket.objects.create(carrier=carrier, tokens=float(budget.burst), updated_at=now)
        except IntegrityError:
            pass  # another worker created it first
        bucket = RateBucket.objects.select_for_update().get(carrier=carrier)
    return bucket


def quota_acquire(*, carrier: Carrier, units: int = 1, now: datetime | None = None) -> float:
    """Spend ``units`` calls of the carrier's budget: 0.0 if spent, else the seconds until they fit.

    One row per carrier, locked for the read-modify-write, so every worker and
    dispatcher shares the same budget: a token bucket for the per-second rate
    (at most ``burst`` calls back to back) and counters of the UTC hour and day.
    A per-second rate of 0 pauses the carrier.
    """
    now = now or timezone.now()
    budget = carrier_budget(carrier=carrier)
    if budget.per_second is not None and budget.per_second <= 0:
        return 3600.0
    with transaction.atomic():
        bucket = _bucket_for_update(carrier, budget, now)
        level = _level(budget, bucket, now)
        wait = _wait(budget, level, units, now)
        taken = units if wait == 0 else 0
        RateBucket.objects.filter(pk=bucket.pk).update(
            tokens=(level.tokens - taken) if budget.per_second is not None else 0.0,
            updated_at=now,
            hour_start=level.hour_start,
            hour_used=level.hour_used + taken,
            day_start=level.day_start,
            day_used=level.day_used + taken,
        )
        return wait


def quota_available(*, carrier: Carrier, within: timedelta = timedelta(minutes=1), now: datetime | None = None) -> int:
    """How many calls the budget allows from now until ``now + within``, without spending any."""
    now = now or timezone.now()
    budget = carrier_budget(carrier=carrier)
    bucket = RateBucket.objects.filter(carrier=carrier).first()
    if bucket is None:
        bucket = RateBucket(carrier=carrier, tokens=float(budget.burst), updated_at=now)
    level = _level(budget, bucket, now)
    room = [float("inf")]
    if budget.per_second is not None:
        room.append(max(0.0, level.tokens) + budget.per_second * within.total_seconds())
    if budget.per_hour is not None:
        room.append(budget.per_hour - level.hour_used)
    if budget.per_day is not None:
        room.append(budget.per_day - level.day_used)
    best = min(room)
    return 1_000_000 if best == float("inf") else max(0, int(best))


def quota_usage(*, carrier: Carrier, now: datetime | None = None) -> tuple[int, int]:
    """Calls spent in the current UTC hour and day."""
    now = now or timezone.now()
    bucket = RateBucket.objects.filter(carrier=carrier).first()
    if bucket is None:
        return 0, 0
    level = _level(carrier_budget(carrier=carrier), bucket, now)
    return level.hour_used, level.day_used


def lease_acquire(*, name: str, ttl: timedelta, now: datetime | None = None) -> str | None:
    """Take the named lease for ``ttl``; returns an owner token, or None if someone else holds it."""
    now = now or timezone.now()
    owner = uuid.uuid4().hex
    taken = Lease.objects.filter(Q(pk=name) & Q(expires_at__lt=now)).update(owner=owner, expires_at=now + ttl)
    if taken:
        return owner
    try:
        with transaction.atomic():
            Lease.objects.create(name=name, owner=owner, expires_at=now + ttl)
    except IntegrityError:
        return None
    return owner


def lease_extend(*, name: str, owner: str, ttl: timedelta, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return bool(Lease.objects.filter(pk=name, owner=owner).update(expires_at=now + ttl))


def lease_release(*, name: str, owner: str) -> None:
    Lease.objects.filter(pk=name, owner=owner).delete()
