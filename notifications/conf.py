"""Delivery tunables, read from Django settings at call time.

Every value is declared, with its environment variable, in ``gluey/settings.py``
(and listed in ``.env.example``); reading at call time lets tests shorten them
with ``override_settings``.
"""

from __future__ import annotations

from django.conf import settings


def retry_schedule() -> tuple[float, ...]:
    return tuple(settings.WEBHOOK_RETRY_SCHEDULE)


def retry_every() -> float:
    """The delay after the schedule runs out."""
    return float(settings.WEBHOOK_RETRY_EVERY)


def retry_jitter() -> float:
    return float(settings.WEBHOOK_RETRY_JITTER)


def max_age() -> float:
    """How long a delivery is retried before it is dead-lettered (seconds)."""
    return float(settings.WEBHOOK_MAX_AGE)


def retry_after_cap() -> float:
    return float(settings.WEBHOOK_RETRY_AFTER_MAX)


def connect_timeout() -> float:
    return float(settings.WEBHOOK_CONNECT_TIMEOUT)


def total_timeout() -> float:
    return float(settings.WEBHOOK_TOTAL_TIMEOUT)


def lease_seconds() -> float:
    """An endpoint's sender lease; comfortably longer than one request (0 in settings: derive it)."""
    return float(settings.WEBHOOK_LEASE_SECONDS) or 2 * total_timeout() + 60


def events_per_delivery() -> int:
    return int(settings.WEBHOOK_EVENTS_PER_DELIVERY)


def drain_batch() -> int:
    """Deliveries one task sends to one endpoint before handing the worker back."""
    return int(settings.WEBHOOK_DRAIN_BATCH)


def countdown_max() -> float:
    """Retries further out than this are left to the sweeper instead of a broker countdown."""
    return float(settings.WEBHOOK_COUNTDOWN_MAX)


def retention_days() -> int:
    return int(settings.WEBHOOK_RETENTION_DAYS)


def secret_rotation_overlap() -> float:
    """How long the previous secret keeps signing after a rotation (seconds)."""
    return float(settings.WEBHOOK_SECRET_ROTATION_OVERLAP)


def export_max_events() -> int:
    """Events in one export file; a bigger backlog goes out as several files."""
    return int(settings.EXPORT_MAX_EVENTS)


def export_lease_seconds() -> float:
    return float(settings.EXPORT_LEASE_SECONDS)


def drain_seconds() -> float:
    """Wall time one task spends on one endpoint before handing the worker back."""
    return float(settings.WEBHOOK_DRAIN_SECONDS)
