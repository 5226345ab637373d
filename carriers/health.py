"""Read-only numbers about the Event Service, for the ops dashboard and /metrics.

Pure reads; every function takes ``now`` where time matters.

- ``carriers_overview(*, now)`` — each carrier with its channels, back-off and schedules.
- ``inbound_counts()`` — inbound messages per carrier and status, and the last one received.
- ``failed_inbound_ids(*, carrier_id, limit)`` — the failed messages a batch reprocess takes.
- ``periodic_task_times(*, task, now)`` — last run and estimated next run of a beat task.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypedDict

from django.db.models import Count, Max, Q
from django.db.models.functions import TruncHour
from django_celery_beat.models import PeriodicTask

from carriers.models import Carrier, InboundMessage, InboundStatus, WebhookRefusal
from carriers.services.channels import carrier_channels
from carriers.services.schedules import DISPATCH_NAME, sftp_task_name


@dataclass
class TaskTimes:
    """A django-celery-beat task as the dashboard shows it."""

    name: str
    enabled: bool
    last_run_at: datetime | None
    next_run_at: datetime | None  # None when disabled or the schedule cannot be read
    pk: int | None = None


def periodic_task_times(*, task: PeriodicTask, now: datetime) -> TaskTimes:
    """Beat runs a never-run task at its next tick, so its next run is 'now'."""
    next_run = None
    if task.enabled:
        if task.last_run_at is None:
            next_run = now
        else:
            try:
                remaining = task.schedule.remaining_estimate(task.last_run_at)
                next_run = now + max(remaining, timedelta(0))
            except Exception:  # noqa: BLE001 - a broken schedule row must not break the dashboard
                next_run = None
    return TaskTimes(
        name=task.name, enabled=task.enabled, last_run_at=task.last_run_at, next_run_at=next_run, pk=task.pk
    )


@dataclass
class InboundCounts:
    by_status: dict[str, int] = field(default_factory=dict)
    last_received_at: datetime | None = None

    @property
    def failed(self) -> int:
        return self.by_status.get(InboundStatus.FAILED, 0)

    @property
    def pending(self) -> int:
        return self.by_status.get(InboundStatus.PENDING, 0)


def inbound_counts() -> dict[str, InboundCounts]:
    """Per carrier: messages by status (every status present, zeros included) and the latest arrival."""
    result: dict[str, InboundCounts] = defaultdict(
        lambda: InboundCounts(by_status={status: 0 for status in InboundStatus.values})
    )
    rows = (
        InboundMessage.objects.values("carrier_id", "status")
        .annotate(n=Count("id"), last=Max("received_at"))
        .order_by()
    )
    for row in rows:
        counts = result[row["carrier_id"]]
        counts.by_status[row["status"]] = row["n"]
        if counts.last_received_at is None or row["last"] > counts.last_received_at:
            counts.last_received_at = row["last"]
    return dict(result)


def failed_inbound_ids(*, carrier_id: str, limit: int = 1000) -> list[int]:
    """The oldest failed messages of a carrier first, at most ``limit``."""
    return list(
        InboundMessage.objects.filter(carrier_id=carrier_id, status=InboundStatus.FAILED)
        .order_by("received_at", "id")
        .values_list("id", flat=True)[:limit]
    )


@dataclass
class CarrierOverview:
    carrier: Carrier
    channels: frozenset[str]
    backoff_until: datetime | None  # only while in the future
    sftp: TaskTimes | None
    dispatcher: TaskTimes | None  # the shared poll dispatcher, for polling carriers

    @property
    def id(self) -> str:
        return self.carrier.pk


def carriers_overview(*, now: datetime) -> list[CarrierOverview]:
    carriers = list(Carrier.objects.order_by("id"))
    names = [sftp_task_name(c.pk) for c in carriers] + [DISPATCH_NAME]
    tasks = {
        task.name: periodic_task_times(task=task, now=now)
        for task in PeriodicTask.objects.filter(name__in=names).select_related(
            "interval", "crontab", "solar", "clocked"
        )
    }
    overview = []
    for carrier in carriers:
        channels = carrier_channels(carrier)
        overview.append(
            CarrierOverview(
                carrier=carrier,
                channels=channels,
                backoff_until=carrier.backoff_until if carrier.backoff_until and carrier.backoff_until > now else None,
                sftp=tasks.get(sftp_task_name(carrier.pk)),
                dispatcher=tasks.get(DISPATCH_NAME) if "poll" in channels else None,
            )
        )
    return overview


class CarrierSftpSettings(TypedDict):
    host: str
    port: int | str  # as configured; the caller checks it is a number
    remote_dir: str
    pinned: list[str]


def carrier_sftp_settings(*, carrier: Carrier) -> CarrierSftpSettings:
    """What the sFTP connection test needs from a carrier's (non-secret) config."""
    config = carrier.config or {}
    raw_keys = config.get("host_keys") or config.get("host_key") or []
    if isinstance(raw_keys, str):
        raw_keys = [line.strip() for line in raw_keys.splitlines() if line.strip()]
    return {
        "host": str(config.get("host") or ""),
        "port": config.get("port") or 22,
        "remote_dir": str(config.get("remote_dir") or ""),
        "pinned": [str(k) for k in raw_keys],
    }


@dataclass
class Refusals:
    """Inbound webhooks a carrier had refused at the door in a window."""

    count: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    last_reason: str = ""
    last_at: datetime | None = None


def webhook_refusals(*, since: datetime) -> dict[str, Refusals]:
    """Per carrier: refusals (401 / 400 / 413) counted since ``since`` (hour buckets), and the latest reason."""
    result: dict[str, Refusals] = defaultdict(Refusals)
    for row in WebhookRefusal.objects.filter(hour__gte=since.replace(minute=0, second=0, microsecond=0)).order_by(
        "last_at"
    ):
        summary = result[row.carrier_id]
        summary.count += row.count
        summary.by_status[row.status] = summary.by_status.get(row.status, 0) + row.count
        summary.last_reason, summary.last_at = row.last_reason, row.last_at
    return dict(result)


def inbound_per_hour(*, since: datetime) -> dict[str, dict[datetime, tuple[int, int]]]:
    """Per carrier and hour received: (inbound messages, of which failed)."""
    rows = (
        InboundMessage.objects.filter(received_at__gte=since.replace(minute=0, second=0, microsecond=0))
        .annotate(hour=TruncHour("received_at"))
        .values("carrier_id", "hour")
        .annotate(n=Count("id"), failed=Count("id", filter=Q(status=InboundStatus.FAILED)))
        .order_by()
    )
    result: dict[str, dict[datetime, tuple[int, int]]] = defaultdict(dict)
    for row in rows:
        result[row["carrier_id"]][row["hour"].replace(minute=0, second=0, microsecond=0)] = (row["n"], row["failed"])
    return dict(result)
