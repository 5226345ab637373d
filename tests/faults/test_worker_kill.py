"""kill -9 a Celery worker in the middle of a batch, again and again.

Ingest: the worker is caught inside its recording transaction — blocked on a
row lock this test holds, which proves it is mid-batch — and killed there,
alternately the whole worker and only its pool child. The database rows are
the truth: the sweeper (run here with its clock 10 minutes on, as beat would
run it later) queues what the lost broker messages left behind.

Delivery: the worker is killed while a webhook request is in flight (the
receiver kills it from inside the request's handler). The customer sees that
delivery again, always with the same webhook-id and body; every delivery
arrives, and each sender sends in order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone as djtz
from standardwebhooks import Webhook

from carriers.models import InboundMessage, InboundStatus
from carriers.services import inbound_messages_sweep
from notifications.models import Delivery, DeliveryStatus, WebhookEndpoint
from notifications.services import deliveries_sweep, endpoint_subscribe
from tests.carriers.conftest import signed_headers
from tests.factories import event, make_carrier, make_customer
from tests.faults.support import (
    HookedReceiver,
    RowLock,
    backends_waiting_on_locks,
    database_activity,
    purge_queues,
    wait_until,
)
from tracking.models import TrackedItem, TrackingEvent
from tracking.services import events_record, shipment_register

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
CODES = ("PCK", "HUB", "DEP", "ARR", "OFD", "DLV")


def webhook_body(n: int, tracking_ids: list[str], per_body: int) -> bytes:
    events = [
        {
            "tracking_id": tracking_ids[i % len(tracking_ids)],
            "code": CODES[i % len(CODES)],
            "occurred_at": (T0 + timedelta(hours=n, seconds=i)).isoformat(),
            "location": {"city": "Leeds", "iso_country": "GB"},
        }
        for i in range(per_body)
    ]
    return json.dumps({"events": events}).encode()


def test_ingest_worker_killed_mid_batch_three_times_records_every_event_once(real_stack, workers):
    purge_queues("ingest")
    carrier = make_carrier()
    acme, _ = make_customer("acme")
    tracking_ids = [f"KILL{i:04d}" for i in range(10)]
    for tracking_id in tracking_ids:
        shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id=tracking_id)
    item_ids = list(TrackedItem.objects.values_list("id", flat=True))

    # Every batch touches these rows; while we hold them, a recording worker waits mid-transaction.
    lock = RowLock("tracking_trackeditem", item_ids)
    per_body, bodies = 60, []
    try:
        assert lock.locked == len(tracking_ids)
        client = Client()
        worker = workers(["ingest"], pool="prefork", concurrency=1)
        orphans: set[int] = set()
        kills = []
        for round_ in range(3):
            # Each round's webhooks wake a drain, which claims them as one batch (the earlier
            # rounds' messages stay locked by the killed backends, which wait on our lock) …
            for n in range(2):
                body = webhook_body(len(bodies), tracking_ids, per_body)
                bodies.append(body)
                response = client.post(
                    f"/carriers/{carrier.pk}/webhook",
                    data=body,
                    content_type="application/json",
                    headers=signed_headers(carrier.webhook_secret, body),
                )
                assert response.status_code == 202, response.content
            # … and its backend blocks inside the recording transaction.
            wait_until(
                lambda seen=frozenset(orphans): bool(backends_waiting_on_locks() - seen),
                30,
                lambda r=round_, w=worker: f"a worker blocked mid-batch (round {r + 1}):\n{w.output()}",
            )
            blocked = backends_waiting_on_locks() - orphans
            orphans |= blocked
            assert TrackingEvent.objects.count() == 0  # nothing of a blocked batch is visible
            # Kill it there: the pool child alone, or the whole worker.
            if round_ % 2 == 0:
                worker.kill9_pool_child()
                kills.append("pool child")
            else:
                worker.kill9()
                kills.append("whole worker")
                worker = workers(["ingest"], pool="prefork", concurrency=1)
        assert kills == ["pool child", "whole worker", "pool child"]
        # The killed batches' broker messages are gone (acked as lost, or unacked until the
        # visibility timeout): only the rows say they are pending.
        assert InboundMessage.objects.filter(status=InboundStatus.PENDING).count() == len(bodies)
    finally:
        lock.release()

    # The killed batches roll back when their backends find their clients gone; later, beat
    # runs the sweeper, whose clock says the messages are old enough, and it wakes the drain.
    wait_until(lambda: not (backends_waiting_on_locks() & orphans), 30, "the killed batches to roll back")
    assert inbound_messages_sweep(now=djtz.now() + timedelta(minutes=10)) == len(bodies)
    wait_until(
        lambda: not InboundMessage.objects.filter(status=InboundStatus.PENDING).exists(),
        60,
        lambda: f"every message processed:\n{worker.output()}",
    )

    messages = list(InboundMessage.objects.order_by("id"))
    assert [m.status for m in messages] == [InboundStatus.PROCESSED] * len(bodies)
    assert TrackingEvent.objects.count() == len(bodies) * per_body
    for message in messages:
        assert message.event_count == per_body
        # Processed once, by the one run that committed; each event recorded once.
        assert message.attempts == 1
        assert TrackingEvent.objects.filter(inbound_message_id=message.pk).count() == per_body


def test_notify_worker_killed_during_a_request_resends_it_with_the_same_webhook_id(
    real_stack, workers, loopback_allowed
):
    purge_queues("notify")
    carrier = make_carrier()
    acme, _ = make_customer("acme")
    shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="JD0002234001100086")
    deliveries = 12
    with HookedReceiver() as receiver:
        endpoint, secret = endpoint_subscribe(customer=acme, url=receiver.url())
        for minute in range(deliveries):
            events_record(carrier=carrier, events=[event(code=CODES[minute % 6], minutes=minute)], channel="webhook")
        assert Delivery.objects.count() == deliveries

        current: dict[str, Any] = {}

        def worker_now() -> Any:
            # A request can arrive before ``workers()`` has returned the worker it came from.
            wait_until(lambda: "worker" in current, 30, "the worker object")
            return current["worker"]

        # While request 3 waits for its answer the whole worker dies; while request 7 waits, its
        # pool child. (Request 4 is the resend of delivery 3, so request 7 carries delivery 6.)
        receiver.hooks = {3: lambda: worker_now().kill9(), 7: lambda: worker_now().kill9_pool_child()}
        current["worker"] = workers(["notify"], pool="prefork", concurrency=1)

        def sweep_after_the_lease() -> None:
            # The dead sender's lease on the endpoint runs out (3 s in the workers' settings);
            # then the sweeper, as beat runs it every minute, wakes the endpoint again.
            wait_until(
                lambda: not WebhookEndpoint.objects.filter(pk=endpoint.pk, lease_until__gt=djtz.now()).exists(),
                10,
                "the killed sender's lease to run out",
            )
            deliveries_sweep(now=djtz.now() + timedelta(minutes=1))

        def diagnostics() -> str:
            return (
                f"{current['worker'].output()}\n{database_activity()}\n"
                f"received: {[h.get('webhook-id') for _, h, _ in receiver.requests]}\n"
                f"deliveries: {list(Delivery.objects.values_list('status', 'attempt_count', 'last_error'))}\n"
                f"{current['worker'].stacks()}"
            )

        wait_until(
            lambda: 3 not in receiver.hooks and current["worker"].process.poll() is not None,
            40,
            lambda: f"the kill during request 3:\n{diagnostics()}",
        )
        current["worker"] = workers(["notify"], pool="prefork", concurrency=1)
        sweep_after_the_lease()
        wait_until(lambda: 7 not in receiver.hooks, 40, lambda: f"the kill during request 7:\n{diagnostics()}")
        sweep_after_the_lease()
        wait_until(
            lambda: not Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists(),
            60,
            lambda: f"every delivery delivered:\n{diagnostics()}",
        )
        received = list(receiver.requests)

    rows = list(Delivery.objects.order_by("id"))
    by_id = {d.msg_id: d for d in rows}
    ids = [headers["webhook-id"] for _, headers, _ in received]
    # Every delivery arrived; nothing arrived that is not a delivery.
    assert set(ids) == set(by_id)
    # A resend is the same delivery: same id, same body, a valid signature.
    for _, headers, body in received:
        assert body.decode() == by_id[headers["webhook-id"]].body
        Webhook(secret).verify(body, headers)
    # The two requests in flight when their sender died were sent again. (Successes are
    # written in small batches, so a sender that dies may also resend a few already answered:
    # at least once, never lost, always under the same webhook-id.)
    index = {d.msg_id: n for n, d in enumerate(rows)}
    sequence = [index[i] for i in ids]
    for killed_at in (3, 7):
        assert sequence.count(sequence[killed_at - 1]) >= 2, sequence
    # Each sender drained in order: ascending from one kill to the next.
    for run in (sequence[:3], sequence[3:7], sequence[7:]):
        assert run == sorted(set(run)), sequence
    assert list(dict.fromkeys(ids)) == [d.msg_id for d in rows]
