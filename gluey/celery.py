"""The Celery app. Queues: ingest, notify, poll, sftp (routing in settings)."""

from __future__ import annotations

import os

from celery import Celery

from gluey.logging import connect_celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gluey.settings")

app = Celery("gluey")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Correlation ids travel with task messages; the worker keeps Django's (JSON) LOGGING.
connect_celery_signals()
