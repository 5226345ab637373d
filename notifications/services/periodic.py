"""The app's own periodic jobs as django-celery-beat rows, created by code (idempotent)."""

from __future__ import annotations

import json

from django_celery_beat.models import IntervalSchedule, PeriodicTask

JOBS = (
    # (name, task, every, period)
    ("notifications: sweep deliveries", "notifications.tasks.delivery_sweep", 1, IntervalSchedule.MINUTES),
    ("notifications: purge old deliveries", "notifications.tasks.delivery_purge", 1, IntervalSchedule.DAYS),
)


def interval_get(*, every: int, period: str) -> IntervalSchedule:
    schedule, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
    return schedule


def periodic_tasks_ensure() -> None:
    """Create the sweeper and purge jobs if missing; ops may edit or disable them in the admin."""
    for name, task, every, period in JOBS:
        if not PeriodicTask.objects.filter(name=name).exists():
            PeriodicTask.objects.create(
                name=name, task=task, interval=interval_get(every=every, period=period), args=json.dumps([])
            )
