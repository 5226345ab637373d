from __future__ import annotations

from celery import shared_task

from tracking.services import tracked_items_purge_expired


@shared_task(name="tracking.tasks.purge_unregistered", acks_late=True, ignore_result=True)
def purge_unregistered() -> int:
    """Idempotent: deletes only what has already expired."""
    return tracked_items_purge_expired()
