"""Celery tasks: each takes ids, calls one service, and declares its retries here.

Names start with ``carriers.tasks.inbound_``, ``.sftp_`` or ``.poll_`` so the
routes in settings send them to the ingest, sftp and poll queues.
"""

from __future__ import annotations

import time
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import OperationalError

from carriers.models import InboundMessage
from carriers.services import inbound, polling, retention, sftp, subscriptions
from gluey.logging import log_context


class _InboundTask(Task):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Retries exhausted: keep the message, mark it failed with the reason, ops can reprocess it.
        message_id = args[0] if args else kwargs.get("message_id")
        if message_id is not None:
            inbound.inbound_message_mark_failed(
                message_id=message_id, error=f"gave up after retries: {type(exc).__name__}: {exc}"
            )


@shared_task(
    name="carriers.tasks.inbound_process",
    base=_InboundTask,
    acks_late=True,
    autoretry_for=(Exception,),
    dont_autoretry_for=(InboundMessage.DoesNotExist,),
    max_retries=6,
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    ignore_result=True,
)
def inbound_process(message_id: int) -> str:
    with log_context(inbound_message_id=message_id):
        return inbound.inbound_message_process(message_id=message_id).status


@shared_task(
    name="carriers.tasks.inbound_drain",
    acks_late=True,
    # A drain that fails before claiming (the database is away) is simply run again;
    # a lost drain is replaced by the next webhook's wake or the sweeper.
    autoretry_for=(OperationalError,),
    max_retries=6,
    retry_backoff=2,
    retry_jitter=True,
    ignore_result=True,
)
def inbound_drain(carrier_id: str) -> int:
    if settings.INGEST_BATCH_WAIT_MS:
        time.sleep(settings.INGEST_BATCH_WAIT_MS / 1000)  # let a few more webhooks of the batch arrive
    with log_context(carrier_id=carrier_id):
        return inbound.inbound_messages_drain(carrier_id=carrier_id).processed


@shared_task(name="carriers.tasks.retention_purge", acks_late=True, ignore_result=True)
def retention_purge() -> dict[str, int]:
    return retention.retention_purge().deleted


@shared_task(name="carriers.tasks.inbound_sweep", acks_late=True, ignore_result=True)
def inbound_sweep() -> int:
    return inbound.inbound_messages_sweep()


@shared_task(
    name="carriers.tasks.sftp_fetch",
    acks_late=True,
    # A run that hits a database error is simply repeated by the next minute's schedule.
    autoretry_for=(OperationalError,),
    max_retries=1,
    retry_backoff=10,
    soft_time_limit=280,
    time_limit=300,
    ignore_result=True,
)
def sftp_fetch(carrier_id: str) -> dict[str, Any]:
    with log_context(carrier_id=carrier_id):
        report = sftp.sftp_fetch(carrier_id=carrier_id)
    return {"ingested": report.ingested, "quarantined": report.quarantined, "error": report.error}


@shared_task(name="carriers.tasks.poll_dispatch", acks_late=True, ignore_result=True)
def poll_dispatch() -> int:
    return polling.poll_dispatch().items


@shared_task(
    name="carriers.tasks.poll_batch",
    bind=True,
    acks_late=True,
    # Waiting for the shared token bucket is not an error: retry when the tokens will be there.
    max_retries=100,
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    ignore_result=True,
)
def poll_batch(self: Task, carrier_id: str, item_ids: list[int]) -> int:
    try:
        with log_context(carrier_id=carrier_id):
            return polling.poll_batch_run(carrier_id=carrier_id, item_ids=item_ids).events
    except polling.RateLimited as limited:
        raise self.retry(countdown=max(1.0, limited.wait)) from None


@shared_task(name="carriers.tasks.poll_push_subscriptions", acks_late=True, ignore_result=True)
def poll_push_subscriptions() -> dict[str, int]:
    runs = subscriptions.push_subscriptions_sync_all()
    return {carrier_id: run.subscribed + run.renewed for carrier_id, run in runs.items()}
