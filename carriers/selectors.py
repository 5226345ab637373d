"""Reads about the carrier APIs, for the ops console: quotas, cadence, alerts, isolated numbers, pushes.

- ``carrier_api_states(*, now)`` — per API carrier: its budget and what is spent of it,
  the cadence stretch and the warning when the budget cannot cover the registered
  numbers, a carrier-wide alert, counts of isolated and flagged numbers, and push
  subscriptions by state with the next expiry.
- ``item_states_isolated(*, carrier_id)`` — numbers no longer polled because they kept
  breaking requests, with the last refusal.
- ``item_states_flagged(*, carrier_id)`` — numbers whose carrier answered about another
  or several shipments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q, QuerySet

from carriers.models import Carrier, ItemState, SubscriptionStatus
from carriers.services.channels import polling_adapters
from carriers.services.limits import Budget, carrier_budget, quota_usage


@dataclass(frozen=True)
class CarrierApiState:
    carrier_id: str
    adapter: str
    budget: Budget
    used_this_hour: int
    used_today: int
    poll_stretch: float
    quota_warning: str
    alert: str
    alert_at: datetime | None
    backoff_until: datetime | None
    isolated: int
    flagged: int
    subscriptions: dict[str, int] = field(default_factory=dict)
    next_subscription_expiry: datetime | None = None


def carrier_api_states(*, now: datetime) -> list[CarrierApiState]:
    carriers = list(Carrier.objects.filter(adapter__in=polling_adapters()).defer("credentials", "webhook_secret"))
    ids = [c.pk for c in carriers]
    counts = {
        row["carrier_id"]: row
        for row in ItemState.objects.filter(carrier_id__in=ids)
        .values("carrier_id")
        .annotate(
            isolated=Count("pk", filter=Q(isolated_at__isnull=False)),
            flagged=Count("pk", filter=~Q(reply_problem="")),
            next_expiry=Min("subscription_expires_at", filter=Q(subscription=SubscriptionStatus.ACTIVE)),
        )
    }
    subscriptions: dict[str, dict[str, int]] = {}
    for row in (
        ItemState.objects.filter(carrier_id__in=ids)
        .exclude(subscription="")
        .values("carrier_id", "subscription")
        .annotate(n=Count("pk"))
    ):
        subscriptions.setdefault(row["carrier_id"], {})[row["subscription"]] = row["n"]
    states = []
    for carrier in carriers:
        hour, day = quota_usage(carrier=carrier, now=now)
        carrier_counts: Mapping[str, Any] = counts.get(carrier.pk, {})
        states.append(
            CarrierApiState(
                carrier_id=carrier.pk,
                adapter=carrier.adapter,
                budget=carrier_budget(carrier=carrier),
                used_this_hour=hour,
                used_today=day,
                poll_stretch=carrier.poll_stretch,
                quota_warning=carrier.quota_warning,
                alert=carrier.poll_alert,
                alert_at=carrier.poll_alert_at,
                backoff_until=carrier.backoff_until if carrier.backoff_until and carrier.backoff_until > now else None,
                isolated=carrier_counts.get("isolated", 0),
                flagged=carrier_counts.get("flagged", 0),
                subscriptions=subscriptions.get(carrier.pk, {}),
                next_subscription_expiry=carrier_counts.get("next_expiry"),
            )
        )
    return states


def item_states_isolated(*, carrier_id: str | None = None) -> QuerySet[ItemState]:
    qs = ItemState.objects.filter(isolated_at__isnull=False).select_related("tracked_item")
    return (qs.filter(carrier_id=carrier_id) if carrier_id else qs).order_by("-isolated_at")


def item_states_flagged(*, carrier_id: str | None = None) -> QuerySet[ItemState]:
    qs = ItemState.objects.exclude(reply_problem="").select_related("tracked_item")
    return (qs.filter(carrier_id=carrier_id) if carrier_id else qs).order_by("-reply_problem_at")
