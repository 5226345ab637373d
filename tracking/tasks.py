from __future__ import annotations

from celery import shared_task
from django.db import transaction

from tracking.services import events_reharmonise, lane_stats_refresh, tracked_items_purge_expired


@shared_task(name="tracking.tasks.purge_unregistered", acks_late=True, ignore_result=True)
def purge_unregistered() -> int:
    """Idempotent: deletes only what has already expired."""
    return tracked_items_purge_expired()


@shared_task(
    name="tracking.tasks.reharmonise_carrier",
    acks_late=True,
    ignore_result=True,
    # A large carrier can take a while; the work is idempotent, so a re-run after a kill is safe.
    soft_time_limit=3600,
    time_limit=3660,
)
def reharmonise_carrier(carrier_id: str, codes: list[str] | None = None) -> int:
    """Re-apply the mapping table to a carrier's stored events (only ``codes`` when given)."""
    return events_reharmonise(carrier_id=carrier_id, codes=codes)


def reharmonise_carrier_after_commit(*, carrier_id: str, codes: list[str] | None = None) -> None:
    """Queue ``reharmonise_carrier`` for when the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: reharmonise_carrier.delay(carrier_id, sorted(codes) if codes is not None else None))


@shared_task(
    name="tracking.tasks.refresh_lane_stats", acks_late=True, ignore_result=True, soft_time_limit=1800, time_limit=1860
)
def refresh_lane_stats() -> int:
    """Relearn delivery-date lanes from recent history; replaces the rows at once, so a re-run is harmless."""
    return lane_stats_refresh()
