"""The Celery app. Queues: ingest, notify, poll, sftp (routing in settings)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

from gluey.logging import connect_celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gluey.settings")

app = Celery("gluey")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Correlation ids travel with task messages; the worker keeps Django's (JSON) LOGGING.
connect_celery_signals()


def close_broken_db_connections(task: Any = None, **kwargs: Any) -> None:
    """Before each task, drop a database connection that errored or is past CONN_MAX_AGE.

    With CELERY_DB_REUSE_MAX, Celery's Django fixup keeps connections between
    tasks and nothing else looks at them: after a PostgreSQL restart every worker
    process kept its dead connection and failed each task with "connection
    already closed" until the fixup's next close, 2 × CELERY_DB_REUSE_MAX tasks
    later, so inbound messages used up their retries and were marked failed.
    Django makes this check around every request; this makes it around every task.
    """
    if task is not None and getattr(task.request, "is_eager", False):
        return  # an eager task runs on its caller's connection, maybe inside its transaction
    from django.db import close_old_connections

    close_old_connections()


signals.task_prerun.connect(close_broken_db_connections, dispatch_uid="gluey.celery.close_broken_db", weak=False)
