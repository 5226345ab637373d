"""Redis (the broker) dies during delivery and comes back empty.

A redis-server of the test's own (the shared one is untouched), without
persistence, so the kill loses every queued message — the harshest restart.
Events recorded while it is down cannot even be queued. The Delivery rows are
the truth: after the restart the sweeper (run as beat runs it, once a
minute) wakes every endpoint with due deliveries, and each endpoint ends up
with every recorded event, each delivery under one webhook-id. (The worker
itself sometimes dies of the broker's disappearance — a Celery/kombu bug, see
below — and is restarted the way a process manager would.)
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import timedelta

import pytest
from django.utils import timezone as djtz

from notifications.models import Delivery, DeliveryStatus
from notifications.services import deliveries_sweep, endpoint_subscribe
from tests.factories import event, make_carrier, make_customer
from tests.faults.conftest import postgres_reason
from tests.faults.support import PrivateRedis, broker_switched, wait_until
from tests.notifications.receiver import Reply
from tracking.models import TrackingEvent
from tracking.services import events_record, shipment_register

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TRACKING_IDS = ["RDS0001", "RDS0002", "RDS0003"]


@pytest.fixture
def private_redis(tmp_path, taxonomy):
    reason = postgres_reason()
    if reason:
        pytest.skip(reason)
    try:
        redis = PrivateRedis(tmp_path / "redis").start()
    except RuntimeError as exc:
        pytest.skip(f"needs redis-server to start a broker of its own: {exc}")
    with broker_switched(redis.url):
        yield redis
    redis.kill()


def record(carrier, minutes: list[int]) -> None:
    events_record(
        carrier=carrier,
        channel="webhook",
        events=[event(tracking_id=TRACKING_IDS[m % 3], code=("HUB", "DEP", "ARR")[m % 3], minutes=m) for m in minutes],
    )


def event_key(item: dict) -> tuple[str, str, str]:
    return (
        item["carrier_tracking_id"],
        item["event"]["codes"]["carrier"]["code"],
        item["event"]["event_time"]["carrier_utc"],
    )


@pytest.fixture
def enqueue_failures():
    """Messages of the outbox's "could not enqueue" warnings (without pytest's logging plugin)."""
    seen: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler, logger = Catch(level=logging.WARNING), logging.getLogger("notifications.services.outbox")
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)


def test_broker_killed_during_delivery_and_restarted_empty_delivers_everything(
    private_redis, workers, receiver, loopback_allowed, enqueue_failures
):
    carrier = make_carrier()
    acme, _ = make_customer("acme")
    globex, _ = make_customer("globex")
    for customer in (acme, globex):
        for tracking_id in TRACKING_IDS:
            shipment_register(customer=customer, carrier_id=carrier.pk, carrier_tracking_id=tracking_id)
    paths = {"/acme-a": acme, "/acme-b": acme, "/globex": globex}
    endpoints = {path: endpoint_subscribe(customer=c, url=receiver.url(path))[0] for path, c in paths.items()}
    fast = Reply(200, delay=0.05)
    # One failure early on: its retry is a broker countdown, which the kill may swallow too.
    receiver.script(fast, fast, fast, Reply(500), *([fast] * 3))
    worker = workers(["notify"], broker_url=private_redis.url, pool="threads", concurrency=4)

    for minute in range(10):
        record(carrier, [minute])  # ten deliveries per endpoint, each woken through the broker
    wait_until(lambda: len(receiver.requests) >= 6, 30, lambda: f"deliveries under way:\n{worker.output()}")
    private_redis.kill()
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).exists()  # killed mid-way
    record(carrier, [20, 21, 22, 23, 24])  # recorded while the broker is down: the wake-up cannot be queued
    assert any("could not enqueue delivery_send" in message for message in enqueue_failures)
    private_redis.start()  # same port, nothing in it
    record(carrier, [30, 31])  # after the restart: the normal path again

    current = {"worker": worker, "restarts": 0}

    def supervise_and_sweep() -> bool:
        # Celery 5.7 / kombu 5.7 now and then exit ("Unrecoverable error: AttributeError: 'NoneType'
        # object has no attribute 'hostname'") when the broker vanishes while they hold unacknowledged
        # messages. A process manager starts a new worker; so does this test.
        if current["worker"].process.poll() is not None:
            current["restarts"] += 1
            current["worker"] = workers(["notify"], broker_url=private_redis.url, pool="threads", concurrency=4)
        # Beat's sweeper, a minute later, finds what the lost messages left behind.
        deliveries_sweep(now=djtz.now() + timedelta(minutes=1))
        return not Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists()

    wait_until(
        supervise_and_sweep, 60, lambda: f"every delivery delivered:\n{current['worker'].output()}", interval=1.0
    )
    assert current["restarts"] <= 1

    recorded = {
        (e.tracked_item.tracking_id, e.carrier_code, e.occurred_at)
        for e in TrackingEvent.objects.select_related("tracked_item")
    }
    assert len(recorded) == 17
    deliveries = {d.msg_id: d for d in Delivery.objects.select_related("endpoint")}
    bodies: dict[str, set[bytes]] = defaultdict(set)
    events_at: dict[str, set[tuple]] = defaultdict(set)
    for request in receiver.requests:
        msg_id = request.headers["webhook-id"]
        delivery = deliveries[msg_id]
        assert delivery.endpoint.url == receiver.url(request.path)  # each delivery goes to its own endpoint
        bodies[msg_id].add(request.body)
        for item in json.loads(request.body):
            key = event_key(item)
            events_at[request.path].add((key[0], key[1], djtz.datetime.fromisoformat(key[2])))
    # Every delivery arrived; a retry carried the same webhook-id and the same body.
    assert set(bodies) == set(deliveries)
    assert all(len(b) == 1 and b == {deliveries[m].body.encode()} for m, b in bodies.items())
    # Every recorded event reached every endpoint.
    for path in endpoints:
        assert events_at[path] == recorded, path
