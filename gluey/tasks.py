"""Infrastructure tasks: the beat heartbeat (read by /healthz). Retention purges belong to the apps whose rows they delete."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_KEY = "gluey:beat-heartbeat"


@shared_task(name="gluey.tasks.heartbeat", ignore_result=True)
def heartbeat() -> str:
    """Beat runs this every minute; its timestamp proves beat and a worker are alive."""
    now = timezone.now().isoformat()
    cache.set(HEARTBEAT_KEY, now, timeout=None)
    return now
