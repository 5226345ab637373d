"""Shared state for many workers: a token bucket per carrier and named leases.

Both live in the database, so every worker and every dispatcher sees the same
numbers (Celery's own ``rate_limit`` is per worker process, which is not what
a carrier's quota means). Each operation is one short transaction on one row.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from carriers.models import Carrier, Lease, RateBucket


def _bucket_level(carrier: Carrier, bucket: RateBucket, now: datetime) -> float:
    capacity = float(carrier.rate_limit_per_minute)
    elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
    return min(capacity, bucket.tokens + elapsed * capacity / 60.0)


def rate_limit_acquire(*, carrier: Carrier, tokens: int = 1, now: datetime | None = None) -> float:
    """Take ``tokens`` from the carrier's bucket: 0.0 if taken, else the seconds until they will be there.

    The bucket holds at most ``rate_limit_per_minute`` tokens and refills at
    that rate; a limit of 0 pauses the carrier (a very long wait).
    """
    now = now or timezone.now()
    if carrier.rate_limit_per_minute <= 0:
        return 3600.0
    with transaction.atomic():
        bucket = RateBucket.objects.select_for_update().filter(carrier=carrier).first()
        if bucket is None:
            try:
                with transaction.atomic():
                    RateBucket.objects.create(
                        carrier=carrier, tokens=float(carrier.rate_limit_per_minute), updated_at=now
                    )
            except IntegrityError:
                pass  # another worker created it first
            bucket = RateBucket.objects.select_for_update().get(carrier=carrier)
        level = _bucket_level(carrier, bucket, now)
        if level >= tokens:
            RateBucket.objects.filter(pk=bucket.pk).update(tokens=level - tokens, updated_at=now)
            return 0.0
        RateBucket.objects.filter(pk=bucket.pk).update(tokens=level, updated_at=now)
        return (tokens - level) * 60.0 / carrier.rate_limit_per_minute


def rate_limit_available(*, carrier: Carrier, now: datetime | None = None) -> float:
    """Tokens in the bucket right now, without taking any."""
    now = now or timezone.now()
    bucket = RateBucket.objects.filter(carrier=carrier).first()
    if bucket is None:
        return float(carrier.rate_limit_per_minute)
    return _bucket_level(carrier, bucket, now)


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
