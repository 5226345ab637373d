"""Delivery tunables, read from Django settings at call time with production defaults.

Tests shorten them with ``override_settings``; production leaves them alone.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

# 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h; then every 12 h.
DEFAULT_RETRY_SCHEDULE = (10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600)


def _get(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def retry_schedule() -> tuple[float, ...]:
    return tuple(_get("WEBHOOK_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE))


def retry_every() -> float:
    """The delay after the schedule runs out."""
    return float(_get("WEBHOOK_RETRY_EVERY", 12 * 3600))


def retry_jitter() -> float:
    return float(_get("WEBHOOK_RETRY_JITTER", 0.2))


def max_age() -> float:
    """How long a delivery is retried before it is dead-lettered (seconds)."""
    return float(_get("WEBHOOK_MAX_AGE", 24 * 3600))


def retry_after_cap() -> float:
    return float(_get("WEBHOOK_RETRY_AFTER_MAX", 12 * 3600))


def connect_timeout() -> float:
    return float(_get("WEBHOOK_CONNECT_TIMEOUT", 5.0))


def total_timeout() -> float:
    return float(_get("WEBHOOK_TOTAL_TIMEOUT", 30.0))


def lease_seconds() -> float:
    """An endpoint's sender lease; comfortably longer than one request."""
    return float(_get("WEBHOOK_LEASE_SECONDS", 2 * total_timeout() + 60))


def events_per_delivery() -> int:
    return int(_get("WEBHOOK_EVENTS_PER_DELIVERY", 100))


def drain_batch() -> int:
    """Deliveries one task sends to one endpoint before handing the worker back."""
    return int(_get("WEBHOOK_DRAIN_BATCH", 200))


def countdown_max() -> float:
    """Retries further out than this are left to the sweeper instead of a broker countdown."""
    return float(_get("WEBHOOK_COUNTDOWN_MAX", 300))


def retention_days() -> int:
    return int(_get("WEBHOOK_RETENTION_DAYS", 90))


def secret_rotation_overlap() -> float:
    """How long the previous secret keeps signing after a rotation (seconds)."""
    return float(_get("WEBHOOK_SECRET_ROTATION_OVERLAP", 24 * 3600))


def export_max_events() -> int:
    """Events in one export file; a bigger backlog goes out as several files."""
    return int(_get("EXPORT_MAX_EVENTS", 10_000))


def export_lease_seconds() -> float:
    return float(_get("EXPORT_LEASE_SECONDS", 600))


def drain_seconds() -> float:
    """Wall time one task spends on one endpoint before handing the worker back."""
    return float(_get("WEBHOOK_DRAIN_SECONDS", 60))
