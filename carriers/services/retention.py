"""Retention of the raw inbound ledger and the sFTP ledger: nothing grows without bound.

Every webhook body, fetched file and polling response is kept as an
``InboundMessage``; a million 1 KB webhooks a day is a gigabyte a day. A daily
beat job deletes what is past its retention, in chunks of short transactions
that touch only old, finished rows, so ingestion (which inserts and claims
pending rows) never waits for it:

| what | kept for (setting, default) |
|---|---|
| processed and duplicate webhook bodies and files | ``RETENTION_INBOUND_DAYS`` (30) |
| processed polling responses | ``RETENTION_POLL_RESPONSES_DAYS`` (30) |
| failed (quarantined) messages | until reprocessed, at most ``RETENTION_FAILED_DAYS`` (90) |
| sFTP ledger rows of files moved to the archive | ``RETENTION_SFTP_LEDGER_DAYS`` (90) |
| sFTP ledger rows of quarantined files | ``RETENTION_FAILED_DAYS`` (90) |

Pending messages are never purged. A ledger row of a file still in the
carrier's directory (its move failed) is kept: it is what stops the file
being taken again. Recorded events keep their ``inbound_message_id`` after
the message is gone. ``retention_status`` gives the ops dashboard the policy,
the last run and what is waiting.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from carriers.models import InboundMessage, InboundStatus, SftpFile, SftpFileStatus

LAST_RUN_KEY = "gluey:retention:last-run"


@dataclass
class Purged:
    started_at: str = ""
    seconds: float = 0.0
    deleted: dict[str, int] = field(default_factory=dict)


def _policies(now: datetime) -> dict[str, QuerySet[Any]]:
    """What each retention rule would delete now, by name."""

    def before(days: int) -> datetime:
        return now - timedelta(days=days)

    finished = [InboundStatus.PROCESSED, InboundStatus.DUPLICATE]
    return {
        "inbound messages": InboundMessage.objects.filter(
            ~Q(channel="poll"), status__in=finished, received_at__lt=before(settings.RETENTION_INBOUND_DAYS)
        ),
        "polling responses": InboundMessage.objects.filter(
            channel="poll", status__in=finished, received_at__lt=before(settings.RETENTION_POLL_RESPONSES_DAYS)
        ),
        "failed messages": InboundMessage.objects.filter(
            status=InboundStatus.FAILED, received_at__lt=before(settings.RETENTION_FAILED_DAYS)
        ),
        "sFTP ledger (archived files)": SftpFile.objects.filter(
            status=SftpFileStatus.INGESTED,
            taken_at__lt=before(settings.RETENTION_SFTP_LEDGER_DAYS),
        ).exclude(moved_to=""),
        "sFTP ledger (quarantined files)": SftpFile.objects.filter(
            status=SftpFileStatus.QUARANTINED, taken_at__lt=before(settings.RETENTION_FAILED_DAYS)
        ).exclude(moved_to=""),
    }


def _purge(queryset: QuerySet[Any], chunk: int) -> int:
    model: type[Model] = queryset.model
    total = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:chunk])
        if not ids:
            return total
        with transaction.atomic():
            total += model._default_manager.filter(pk__in=ids).delete()[1].get(model._meta.label, 0)
        if len(ids) < chunk:
            return total


def retention_purge(*, now: datetime | None = None, chunk: int | None = None) -> Purged:
    """Delete everything past its retention, a chunk per transaction; the report is kept for the dashboard."""
    now = now or timezone.now()
    size = chunk or settings.RETENTION_CHUNK
    started = time.monotonic()
    report = Purged(started_at=now.isoformat())
    for name, queryset in _policies(now).items():
        report.deleted[name] = _purge(queryset, size)
    report.seconds = round(time.monotonic() - started, 3)
    cache.set(LAST_RUN_KEY, asdict(report), timeout=None)
    return report


def retention_status(*, now: datetime | None = None) -> dict[str, Any]:
    """The retention figures for the ops dashboard: the policy, the last run, and rows past retention now."""
    now = now or timezone.now()
    return {
        "policy_days": {
            "inbound messages": settings.RETENTION_INBOUND_DAYS,
            "polling responses": settings.RETENTION_POLL_RESPONSES_DAYS,
            "failed messages": settings.RETENTION_FAILED_DAYS,
            "sFTP ledger (archived files)": settings.RETENTION_SFTP_LEDGER_DAYS,
            "sFTP ledger (quarantined files)": settings.RETENTION_FAILED_DAYS,
        },
        "last_run": cache.get(LAST_RUN_KEY),
        "past_retention": {name: queryset.count() for name, queryset in _policies(now).items()},
        "inbound_messages": InboundMessage.objects.count(),
        "sftp_files": SftpFile.objects.count(),
    }
