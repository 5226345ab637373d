"""Thin Celery tasks: ids in, one service call. Routing (settings): ``delivery_*`` →
queue notify, ``export_*`` → queue sftp."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from gluey.logging import log_context
from notifications import services

# Database hiccups are retried; HTTP and sFTP failures are recorded by the services
# themselves and scheduled from the rows, never raised here.
_DB_RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="notifications.tasks.delivery_send", ignore_result=True, acks_late=True, **_DB_RETRY)
def delivery_send(endpoint_id: int) -> None:
    """Send an endpoint's due deliveries in order (no-op if another worker is on it)."""
    with log_context(endpoint_id=endpoint_id):
        services.endpoint_deliver(endpoint_id=endpoint_id)


@shared_task(name="notifications.tasks.delivery_sweep", ignore_result=True, **_DB_RETRY)
def delivery_sweep() -> None:
    """Every minute: re-enqueue endpoints whose due deliveries lost their broker message."""
    services.deliveries_sweep()


@shared_task(name="notifications.tasks.delivery_purge", ignore_result=True, **_DB_RETRY)
def delivery_purge() -> None:
    """Daily: drop delivered and dead-lettered deliveries past retention (90 days), then the endpoints
    unsubscribed before then that have none left."""
    services.deliveries_purge()
    services.endpoints_purge_unsubscribed()


@shared_task(
    name="notifications.tasks.export_run",
    ignore_result=True,
    autoretry_for=(services.ExportFailed, OperationalError, InterfaceError),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=900,
    time_limit=960,
)
def export_run(destination_id: int) -> None:
    """Upload a destination's pending export (as is) and then its new events."""
    with log_context(destination_id=destination_id):
        services.export_run(destination_id=destination_id)
