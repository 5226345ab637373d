from __future__ import annotations

from collections.abc import Iterable

from celery import shared_task
from django.db import transaction

from tracking.models import Reharmonisation
from tracking.services import (
    lane_stats_refresh,
    reharmonisation_create,
    reharmonisation_run,
    tracked_items_purge_expired,
)


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
def reharmonise_carrier(reharmonisation_id: int) -> int:
    """Run one queued Reharmonisation (its row holds the carrier, the codes and the progress)."""
    return reharmonisation_run(reharmonisation_id=reharmonisation_id)


def reharmonise_carrier_after_commit(
    *, carrier_id: str, codes: Iterable[str] | None = None, requested_by: str = ""
) -> Reharmonisation:
    """The one way to start a re-harmonisation: a Reharmonisation row, run by a worker once this commits."""
    job = reharmonisation_create(carrier_id=carrier_id, codes=codes, requested_by=requested_by)
    transaction.on_commit(lambda: reharmonise_carrier.delay(job.pk))
    return job


@shared_task(
    name="tracking.tasks.refresh_lane_stats", acks_late=True, ignore_result=True, soft_time_limit=1800, time_limit=1860
)
def refresh_lane_stats() -> int:
    """Relearn delivery-date lanes from recent history; replaces the rows at once, so a re-run is harmless."""
    return lane_stats_refresh()
