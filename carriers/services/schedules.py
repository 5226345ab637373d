"""Periodic jobs as django-celery-beat rows, created and updated from code.

- one ``sftp_fetch`` task per sFTP carrier (every ``config.interval_seconds``, default 60 s),
- one ``poll_dispatch`` for all polling carriers (every minute),
- the inbound sweeper (every 5 minutes), the daily purge of numbers nobody registered, the
  nightly retention purge of the inbound and sFTP ledgers, and the relearning of delivery-date
  lanes (every ``PREDICTION_REFRESH_MINUTES``).

``carrier_schedules_sync`` runs whenever a carrier is saved; ``schedules_ensure``
after every migrate. Both write only when something differs, so beat does not
reload its schedule for nothing.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from carriers.adapters.registry import UnknownAdapter, adapter_class
from carriers.models import Carrier
from carriers.services.channels import carrier_fetches_sftp, carrier_polls

DISPATCH_NAME = "carriers: poll dispatcher"
SUBSCRIBE_NAME = "carriers: push subscriptions (subscribe, renew, stop)"
SWEEP_NAME = "carriers: re-queue stranded inbound messages"
PURGE_NAME = "tracking: purge numbers nobody registered"
RETENTION_NAME = "carriers: purge inbound messages and sFTP ledger past retention"
LANES_NAME = "tracking: relearn delivery-date lanes"
SFTP_INTERVAL_SECONDS = settings.SFTP_FETCH_INTERVAL_SECONDS


def sftp_task_name(carrier_id: str) -> str:
    return f"carriers: sftp fetch {carrier_id}"


def _can_subscribe(adapter: str) -> bool:
    try:
        return hasattr(adapter_class(adapter), "subscribe")
    except UnknownAdapter:
        return False


def _interval(seconds: int) -> IntervalSchedule:
    schedule, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
    return schedule


def _put(name: str, **fields: Any) -> PeriodicTask:
    task = PeriodicTask.objects.filter(name=name).first()
    if task is None:
        return PeriodicTask.objects.create(name=name, **fields)
    changed = [k for k, v in fields.items() if getattr(task, k) != v]
    if changed:
        for key in changed:
            setattr(task, key, fields[key])
        task.save()
    return task


def carrier_schedules_sync(*, carrier: Carrier) -> None:
    name = sftp_task_name(carrier.pk)
    if carrier_fetches_sftp(carrier):
        seconds = int(carrier.config.get("interval_seconds") or SFTP_INTERVAL_SECONDS)
        _put(
            name,
            task="carriers.tasks.sftp_fetch",
            interval=_interval(max(10, seconds)),
            args=json.dumps([carrier.pk]),
            enabled=carrier.enabled,
            description=f"Fetch {carrier.pk}'s files from {carrier.config.get('host')}",
        )
    else:
        PeriodicTask.objects.filter(name=name).delete()
    dispatcher_sync()


def carrier_schedules_remove(*, carrier_id: str) -> None:
    PeriodicTask.objects.filter(name=sftp_task_name(carrier_id)).delete()
    dispatcher_sync()


def dispatcher_sync() -> None:
    """The dispatcher runs while at least one enabled carrier polls."""
    # Only the non-secret columns: this runs on every carrier save and must not decrypt credentials.
    carriers = Carrier.objects.filter(enabled=True).only("id", "adapter", "enabled", "config")
    any_polling = any(carrier_polls(c) for c in carriers)
    _put(
        DISPATCH_NAME,
        task="carriers.tasks.poll_dispatch",
        interval=_interval(60),
        enabled=any_polling,
        description="Take due tracked items of polling carriers and queue their polls",
    )
    # Hourly: a Track Alert subscription lasts 14 days and is renewed a day before it runs out.
    any_subscribing = any(c.config.get("subscribe_pushes") and _can_subscribe(c.adapter) for c in carriers)
    _put(
        SUBSCRIBE_NAME,
        task="carriers.tasks.poll_push_subscriptions",
        interval=_interval(3600),
        enabled=any_subscribing,
        description="Subscribe registered numbers to carrier pushes, renew before expiry, stop after delivery",
    )


def schedules_ensure() -> None:
    """The jobs that exist whatever carriers there are."""
    dispatcher_sync()
    _put(
        SWEEP_NAME,
        task="carriers.tasks.inbound_sweep",
        interval=_interval(300),
        enabled=True,
        description="Queue again inbound messages still pending after 5 minutes",
    )
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="17", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    _put(
        PURGE_NAME,
        task="tracking.tasks.purge_unregistered",
        crontab=daily,
        enabled=True,
        description="Delete events of numbers no customer registered within the retention window",
    )
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="37", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    _put(
        RETENTION_NAME,
        task="carriers.tasks.retention_purge",
        crontab=nightly,
        enabled=True,
        description="Delete inbound messages, polling responses and sFTP ledger rows past their retention",
    )
    _put(
        LANES_NAME,
        task="tracking.tasks.refresh_lane_stats",
        interval=_interval(settings.PREDICTION_REFRESH_MINUTES * 60),
        enabled=True,
        description="Relearn each lane's transit times for predicted delivery dates",
    )
    for carrier in Carrier.objects.only("id", "adapter", "enabled", "config"):
        carrier_schedules_sync(carrier=carrier)
