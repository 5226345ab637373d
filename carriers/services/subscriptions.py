"""Push subscriptions (UPS Track Alert): subscribe, renew before expiry, stop after delivery.

A Track Alert subscription covers one number for 14 days and UPS keeps no
history, so every registered, undelivered number of a carrier with
``subscribe_pushes`` in its config is subscribed (up to 100 per request),
renewed ``PUSH_RENEW_HOURS`` before it runs out, and left to lapse — marked
stopped — once the number is delivered. UPS has no unsubscribe call. A number
UPS refuses is marked refused and not retried; polling still covers it.

Every subscription request spends the carrier's quota like a poll.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from carriers.adapters.base import CarrierError, QuotaWait
from carriers.adapters.registry import adapter_class, adapter_for
from carriers.models import Carrier, ItemState, SubscriptionStatus
from carriers.services.limits import quota_acquire
from carriers.services.polling import is_final
from tracking.models import TrackedItem

log = logging.getLogger(__name__)

# Numbers considered per run and carrier (the hourly run catches up on the rest).
RUN_LIMIT = 5000


@dataclass
class SubscriptionRun:
    subscribed: int = 0
    renewed: int = 0
    refused: int = 0
    stopped: int = 0
    error: str = ""


def carrier_subscribes(carrier: Carrier) -> bool:
    return bool(carrier.config.get("subscribe_pushes")) and hasattr(adapter_class(carrier.adapter), "subscribe")


def push_subscriptions_sync(*, carrier: Carrier, now: datetime | None = None) -> SubscriptionRun:
    now = now or timezone.now()
    run = SubscriptionRun()
    if not carrier.enabled or not carrier_subscribes(carrier):
        return run
    renew_before = now + timedelta(hours=settings.PUSH_RENEW_HOURS)
    # Registered numbers only (a number nobody registered has an expiry date).
    items = list(
        TrackedItem.objects.filter(carrier=carrier, expires_at__isnull=True)
        .exclude(carrier_state__subscription=SubscriptionStatus.REFUSED)
        .exclude(carrier_state__subscription=SubscriptionStatus.STOPPED)
        .filter(
            Q(carrier_state__isnull=True)
            | Q(carrier_state__subscription=SubscriptionStatus.NONE)
            | Q(carrier_state__subscription_expires_at__lte=renew_before)
        )
        .order_by("id")[:RUN_LIMIT]
    )
    # Delivered numbers are left to lapse: marked stopped, never renewed.
    running = TrackedItem.objects.filter(carrier=carrier, carrier_state__subscription=SubscriptionStatus.ACTIVE).only(
        "id", "status_milestone", "status_code", "status_sub_code"
    )
    finished = [i.id for i in running if is_final(i)]
    if finished:
        run.stopped = ItemState.objects.filter(tracked_item_id__in=finished).update(
            subscription=SubscriptionStatus.STOPPED
        )
    pending = [i for i in items if not is_final(i)]
    if not pending:
        return run
    ItemState.objects.bulk_create(
        [ItemState(tracked_item_id=i.id, carrier=carrier) for i in pending], ignore_conflicts=True
    )
    states = {s.tracked_item_id: s for s in ItemState.objects.filter(tracked_item_id__in=[i.id for i in pending])}

    def spend(kind: str) -> None:
        wait = quota_acquire(carrier=carrier, now=now)
        if wait > 0:
            raise QuotaWait(wait)

    adapter = adapter_for(carrier, before_request=spend)
    push_url = f"{settings.PUBLIC_BASE_URL.rstrip('/')}/carriers/{carrier.pk}/webhook"
    batch_size = getattr(adapter, "subscribe_batch_size", 100)
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        try:
            answer = adapter.subscribe([i.tracking_id for i in batch], push_url=push_url)  # type: ignore[attr-defined]
        except QuotaWait:
            run.error = "quota spent; the next run goes on"
            break
        except CarrierError as exc:
            run.error = str(exc)
            for item in batch:
                states[item.id].subscription_error = str(exc)[:500]
            ItemState.objects.bulk_update([states[i.id] for i in batch], ["subscription_error"])
            log.warning("carrier %s: push subscription failed: %s", carrier.pk, exc)
            if exc.carrier_wide:
                break
            continue
        valid, refused = set(answer.valid), set(answer.refused)
        for item in batch:
            state = states[item.id]
            if item.tracking_id in valid:
                if state.subscription == SubscriptionStatus.ACTIVE:
                    run.renewed += 1
                else:
                    run.subscribed += 1
                state.subscription = SubscriptionStatus.ACTIVE
                state.subscribed_at = now
                state.subscription_expires_at = now + timedelta(days=getattr(adapter, "subscription_days", 14))
                state.subscription_error = ""
            elif item.tracking_id in refused:
                run.refused += 1
                state.subscription = SubscriptionStatus.REFUSED
                state.subscription_error = "the carrier refused to subscribe this number"
        ItemState.objects.bulk_update(
            [states[i.id] for i in batch],
            ["subscription", "subscribed_at", "subscription_expires_at", "subscription_error"],
        )
    return run


def push_subscriptions_sync_all(*, now: datetime | None = None) -> dict[str, SubscriptionRun]:
    runs = {}
    for carrier in Carrier.objects.filter(enabled=True):
        if carrier_subscribes(carrier):
            runs[carrier.pk] = push_subscriptions_sync(carrier=carrier, now=now)
    return runs
