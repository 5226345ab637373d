"""The Delivery outbox: written inside the recording transaction, swept, replayed, purged."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from gluey.db import pg_array, prepared_rows
from notifications import conf
from notifications.models import Delivery, DeliveryKind, DeliveryStatus, WebhookEndpoint
from tracking.models import Customer, Parcel, Shipment, TrackingEvent
from tracking.representations import webhook_event_dict
from tracking.selectors import tracking_updates
from tracking.services import predicted_deliveries_load

logger = logging.getLogger(__name__)

# A fresh delivery's own wake-up task normally sends it within this; the sweeper
# only steps in after it, so it does not race every new delivery.
SWEEP_GRACE = timedelta(seconds=15)


def body_dumps(items: list[dict[str, Any]]) -> str:
    return json.dumps(items, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def endpoints_wake(*, endpoint_ids: Iterable[int]) -> None:
    """Enqueue a send task per endpoint; a broker failure is logged, the sweeper recovers."""
    from notifications.tasks import delivery_send

    for endpoint_id in endpoint_ids:
        try:
            delivery_send.delay(endpoint_id)
        except Exception:
            logger.warning("could not enqueue delivery_send for endpoint %s", endpoint_id, exc_info=True)


def _wake_after_commit(endpoint_ids: list[int]) -> None:
    if endpoint_ids:
        transaction.on_commit(lambda: endpoints_wake(endpoint_ids=endpoint_ids), robust=True)


def outbox_write_for_events(
    sender: Any,
    *,
    events: list[TrackingEvent],
    shipments: dict[int, list[Shipment]],
    parcels: dict[int, list[Parcel]],
    **kwargs: Any,
) -> None:
    """Receiver of tracking's ``events_recorded``: runs inside the recording transaction.

    Writes one Delivery per active endpoint of each customer whose shipments got
    events, up to ``WEBHOOK_EVENTS_PER_DELIVERY`` (100) events each, in at most
    three statements whatever the batch (endpoints, the shipment locks on
    PostgreSQL, one bulk insert) plus two for each event's ``predicted_delivery``
    (the items' events and their lanes), and wakes the senders once the
    transaction commits.
    """
    items: dict[int, list[tuple[TrackingEvent, Shipment, Parcel | None]]] = defaultdict(list)
    for event in events:
        for shipment in shipments.get(event.tracked_item_id, ()):
            items[shipment.customer_id].append((event, shipment, None))
        for parcel in parcels.get(event.tracked_item_id, ()):
            items[parcel.shipment.customer_id].append((event, parcel.shipment, parcel))
    if not items:
        return
    endpoints = _active_endpoints(list(items))
    if not endpoints:
        return
    _lock_shipments(items, {e.customer_id for e in endpoints})
    now = timezone.now()
    notified = {e.customer_id for e in endpoints}
    predictions = predicted_deliveries_load(
        items={
            e.tracked_item_id: (s.carrier_id, s.meta_data or [])
            for customer_id in notified
            for e, s, _ in items[customer_id]
        },
        now=now,
    )
    relabels = tracking_updates(
        item_ids={e.tracked_item_id for customer_id in notified for e, _, _ in items[customer_id]}
    )
    deadline = now + timedelta(seconds=conf.max_age())
    size = conf.events_per_delivery()
    chunks: dict[int, list[tuple[str, int, int, int]]] = {}
    rows: list[Delivery] = []
    for endpoint in endpoints:
        customer_id = endpoint.customer_id
        if customer_id not in chunks:
            # Carrier time order, so one shipment's events never overtake each other,
            # even when a batch spans several deliveries (sent in id order).
            ordered = sorted(items[customer_id], key=lambda item: (item[0].occurred_at, item[0].id))
            chunks[customer_id] = []
            for start in range(0, len(ordered), size):
                part = ordered[start : start + size]
                body = body_dumps(
                    [
                        webhook_event_dict(
                            shipment=s,
                            parcel=p,
                            event=e,
                            predicted_delivery=predictions.get(e.tracked_item_id),
                            relabels=relabels,
                        )
                        for e, s, p in part
                    ]
                )
                ids = [e.id for e, _, _ in part]
                chunks[customer_id].append((body, len(part), min(ids), max(ids)))
        for body, count, first, last in chunks[customer_id]:
            rows.append(
                Delivery(
                    endpoint_id=endpoint.id,
                    customer_id=customer_id,
                    body=body,
                    event_count=count,
                    first_event_id=first,
                    last_event_id=last,
                    created_at=now,
                    next_attempt_at=now,
                    deadline_at=deadline,
                )
            )
    Delivery.objects.bulk_create(rows, batch_size=500)
    # A failing endpoint waits for its retry time; waking it now would only bounce.
    _wake_after_commit([e.id for e in endpoints if e.retry_at is None or e.retry_at <= now])


class _Endpoint(NamedTuple):
    id: int
    customer_id: int
    retry_at: datetime | None


def _active_endpoints(customer_ids: list[int]) -> list[_Endpoint]:
    """The active endpoints of these customers, by id: on PostgreSQL a statement prepared once per
    connection (recording asks on every call that has followed numbers; see tracking.db.followers)."""
    if connection.vendor != "postgresql":
        rows = WebhookEndpoint.objects.filter(customer_id__in=customer_ids, is_active=True).order_by("id")
        return [_Endpoint(*row) for row in rows.values_list("id", "customer_id", "retry_at")]
    table = connection.ops.quote_name(WebhookEndpoint._meta.db_table)
    sql = (
        f"SELECT id, customer_id, retry_at FROM {table} WHERE customer_id = ANY(%s::bigint[]) AND is_active ORDER BY id"
    )
    return [_Endpoint(*row) for row in prepared_rows("gluey_outbox_endpoints", sql, [pg_array(customer_ids, "bigint")])]


def _lock_shipments(items: dict[int, list[tuple[TrackingEvent, Shipment, Parcel | None]]], customers: set[int]) -> None:
    """Serialise recorders of the same shipment until commit (one statement).

    Tracked-item locks already order the events of one number; a shipment
    with parcels spans several numbers, and two transactions recording on two
    of them could commit in the opposite order of their delivery ids. Holding
    the shipment row until commit makes delivery ids follow commit order per
    shipment, so the sender (which goes by id) never lets one overtake another.
    """
    if not connection.features.has_select_for_update:
        return  # SQLite: one writer at a time anyway
    ids = sorted({shipment.pk for customer in customers for _, shipment, _ in items[customer]})
    table = connection.ops.quote_name(Shipment._meta.db_table)
    sql = f"SELECT id FROM {table} WHERE id = ANY(%s::uuid[]) ORDER BY id FOR NO KEY UPDATE"
    prepared_rows("gluey_outbox_lock_shipments", sql, [pg_array(ids)])


def deliveries_requeue(*, deliveries: QuerySet[Delivery], now: datetime | None = None) -> int:
    """Send delivered or dead-lettered deliveries again (same ``webhook-id``, new retry window).

    Only deliveries of active endpoints are requeued; their endpoints are
    woken at once, even if they were waiting to retry.
    """
    now = now or timezone.now()
    with transaction.atomic():
        selected = deliveries.filter(endpoint__is_active=True, kind=DeliveryKind.EVENTS).exclude(
            status=DeliveryStatus.PENDING
        )
        endpoint_ids = sorted(set(selected.values_list("endpoint_id", flat=True)))
        count = Delivery.objects.filter(pk__in=selected.values("pk")).update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            deadline_at=now + timedelta(seconds=conf.max_age()),
            schedule_step=0,
            delivered_at=None,
            dead_at=None,
            replay_count=F("replay_count") + 1,
            replayed_at=now,
        )
        WebhookEndpoint.objects.filter(pk__in=endpoint_ids).update(retry_at=None)
        _wake_after_commit(endpoint_ids)
    return count


def endpoint_retry_now(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> int:
    """Send an endpoint's pending deliveries now instead of at their next retry; returns how many wait.

    The order is kept (oldest first, one in flight); a failure goes back to the
    usual retry schedule. A disabled endpoint is left alone: enable it first.
    """
    now = now or timezone.now()
    if not WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).exists():
        return 0
    with transaction.atomic():
        pending = Delivery.objects.filter(endpoint_id=endpoint.pk, status=DeliveryStatus.PENDING)
        pending.filter(next_attempt_at__gt=now).update(next_attempt_at=now)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(retry_at=None)
        count = pending.count()
        _wake_after_commit([endpoint.pk])
    return count


def deliveries_replay(
    *, customer: Customer, since: datetime, until: datetime | None = None, now: datetime | None = None
) -> int:
    """Re-send a customer's deliveries created in [since, until), dead-lettered included."""
    window = Delivery.objects.filter(customer=customer, created_at__gte=since)
    if until is not None:
        window = window.filter(created_at__lt=until)
    return deliveries_requeue(deliveries=window, now=now)


def deliveries_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Re-enqueue endpoints whose due deliveries lost their broker message.

    Also dead-letters pending deliveries of disabled endpoints once their
    retry window has passed. Cheap enough to run every minute.
    """
    now = now or timezone.now()
    expired = Delivery.objects.filter(
        status=DeliveryStatus.PENDING, deadline_at__lte=now, endpoint__is_active=False
    ).update(status=DeliveryStatus.DEAD, dead_at=now, last_error="endpoint disabled; retry window passed")
    due = Delivery.objects.filter(
        endpoint=OuterRef("pk"), status=DeliveryStatus.PENDING, next_attempt_at__lte=now - SWEEP_GRACE
    )
    endpoint_ids = list(
        WebhookEndpoint.objects.filter(is_active=True)
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Exists(due))
        .values_list("id", flat=True)
    )
    endpoints_wake(endpoint_ids=endpoint_ids)
    return {"woken": len(endpoint_ids), "expired": expired}


def deliveries_purge(*, now: datetime | None = None, chunk: int = 5000) -> int:
    """Delete delivered and dead-lettered deliveries (and attempts) past retention (90 days)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=conf.retention_days())
    old = Delivery.objects.filter(
        Q(status=DeliveryStatus.DEAD, dead_at__lt=cutoff) | Q(status=DeliveryStatus.DELIVERED, created_at__lt=cutoff)
    )
    total = 0
    while True:
        ids = list(old.order_by("id").values_list("id", flat=True)[:chunk])
        if not ids:
            return total
        with transaction.atomic():
            total += Delivery.objects.filter(id__in=ids).delete()[1].get(Delivery._meta.label, 0)
