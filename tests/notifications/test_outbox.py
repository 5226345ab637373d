"""The outbox hook inside events_record, the sweeper, replay and purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus, WebhookEndpoint
from notifications.services import (
    deliveries_purge,
    deliveries_replay,
    deliveries_sweep,
    endpoint_deliver,
    endpoint_subscribe,
)
from tests.factories import event, make_customer
from tests.notifications.conftest import record
from tests.notifications.receiver import Reply
from tracking.services import shipment_register

pytestmark = pytest.mark.django_db


def test_one_delivery_per_active_endpoint_of_each_customer(acme, carrier, shipment, loopback_allowed):
    globex, _ = make_customer("globex")
    shipment_register(customer=globex, carrier_id=carrier.pk, carrier_tracking_id="JD0002234001100086")
    initech, _ = make_customer("initech")  # follows nothing: gets nothing
    a1, _ = endpoint_subscribe(customer=acme, url="http://127.0.0.1:9/a1")
    a2, _ = endpoint_subscribe(customer=acme, url="http://127.0.0.1:9/a2")
    g1, _ = endpoint_subscribe(customer=globex, url="http://127.0.0.1:9/g1")
    endpoint_subscribe(customer=initech, url="http://127.0.0.1:9/i1")
    off, _ = endpoint_subscribe(customer=acme, url="http://127.0.0.1:9/off")
    WebhookEndpoint.objects.filter(pk=off.pk).update(is_active=False)

    record(carrier, event(minutes=1), event(code="OFD", minutes=2))

    rows = {(d.endpoint_id, d.customer_id, d.event_count) for d in Delivery.objects.all()}
    assert rows == {(a1.pk, acme.pk, 2), (a2.pk, acme.pk, 2), (g1.pk, globex.pk, 2)}


def test_up_to_100_events_per_delivery(carrier, shipment, subscribed):
    record(carrier, *[event(minutes=i, city=f"Hub {i}") for i in range(230)])
    assert sorted(Delivery.objects.values_list("event_count", flat=True)) == [30, 100, 100]


def test_hook_costs_a_constant_few_statements_whatever_the_batch(acme, carrier, shipment, loopback_allowed):
    endpoint_subscribe(customer=acme, url="http://127.0.0.1:9/a")
    endpoint_subscribe(customer=acme, url="http://127.0.0.1:9/b")

    def statements(n: int, offset: int) -> int:
        batch = [event(minutes=offset + i, city=f"Hub {i}") for i in range(n)]
        with CaptureQueriesContext(connection) as ctx:
            record(carrier, *batch)
        return len(ctx.captured_queries)

    statements(1, 0)  # warm the taxonomy description cache
    with_endpoints_small = statements(3, 100)
    with_endpoints_large = statements(250, 200)
    assert Delivery.objects.filter(event_count=100).count() == 4  # 250 events → 3 per endpoint
    WebhookEndpoint.objects.all().delete()
    without_endpoints = statements(3, 1000)

    assert with_endpoints_small == with_endpoints_large
    # Three for the outbox, two for predicted delivery (the items' events, their lanes).
    assert with_endpoints_small - without_endpoints <= 5


def test_no_customer_no_query(carrier, acme, loopback_allowed):
    endpoint_subscribe(customer=acme, url="http://127.0.0.1:9/a")
    record(carrier, event(tracking_id="NOBODY-FOLLOWS-THIS"))
    assert not Delivery.objects.exists()


def test_deliveries_roll_back_with_the_events(carrier, shipment, subscribed):
    with pytest.raises(RuntimeError), transaction.atomic():
        record(carrier)
        assert Delivery.objects.count() == 1
        raise RuntimeError("the recording transaction fails after the hook ran")
    assert not Delivery.objects.exists()


def test_replay_resends_the_window_with_the_same_webhook_ids(acme, carrier, shipment, subscribed, receiver):
    record(carrier, event(minutes=1))
    record(carrier, event(code="OFD", minutes=2))
    endpoint_deliver(endpoint_id=subscribed.pk)  # both delivered
    record(carrier, event(code="DLV", minutes=3))
    Delivery.objects.filter(status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.DEAD, dead_at=timezone.now()
    )  # the third one was dead-lettered
    old = Delivery.objects.order_by("id").first()
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    before = [r.headers["webhook-id"] for r in receiver.requests]

    count = deliveries_replay(customer=acme, since=timezone.now() - timedelta(hours=1))

    assert count == 2  # the day-old one is outside the window
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2
    endpoint_deliver(endpoint_id=subscribed.pk)
    again = [r.headers["webhook-id"] for r in receiver.requests[len(before) :]]
    ids = list(Delivery.objects.order_by("id").values_list("msg_id", flat=True))
    assert again == ids[1:]
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}
    assert Delivery.objects.get(msg_id=ids[2]).replay_count == 1


def test_replay_does_not_touch_another_customers_deliveries(acme, carrier, shipment, subscribed, loopback_allowed):
    globex, _ = make_customer("globex")
    shipment_register(customer=globex, carrier_id=carrier.pk, carrier_tracking_id="JD0002234001100086")
    endpoint_subscribe(customer=globex, url="http://127.0.0.1:9/g")
    record(carrier)
    Delivery.objects.update(status=DeliveryStatus.DEAD, dead_at=timezone.now())

    assert deliveries_replay(customer=acme, since=timezone.now() - timedelta(hours=1)) == 1
    assert Delivery.objects.get(customer=globex).status == DeliveryStatus.DEAD


def test_sweeper_wakes_endpoints_with_due_deliveries_only(acme, carrier, shipment, subscribed, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # run the woken task inline, for this test only
    from gluey.celery import app

    app.conf.task_always_eager = True
    try:
        record(carrier)  # its own wake-up "was lost": non-transactional tests never run on_commit
        assert deliveries_sweep()["woken"] == 0  # still within the grace period
        Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=1))

        assert deliveries_sweep()["woken"] == 1
        assert Delivery.objects.get().status == DeliveryStatus.DELIVERED
    finally:
        app.conf.task_always_eager = False


def test_sweeper_skips_a_failing_endpoint_until_its_retry_time(acme, carrier, shipment, subscribed):
    record(carrier)
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=1))
    WebhookEndpoint.objects.update(retry_at=timezone.now() + timedelta(minutes=5), failing_since=timezone.now())
    assert deliveries_sweep()["woken"] == 0


def test_sweeper_dead_letters_expired_deliveries_of_disabled_endpoints(acme, carrier, shipment, subscribed):
    record(carrier)
    WebhookEndpoint.objects.update(is_active=False)
    Delivery.objects.update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert deliveries_sweep()["expired"] == 1
    assert Delivery.objects.get().status == DeliveryStatus.DEAD


def test_purge_keeps_dead_letters_90_days(acme, carrier, shipment, subscribed, receiver):
    receiver.script(Reply(200))
    record(carrier, event(minutes=1))
    record(carrier, event(code="OFD", minutes=2))
    record(carrier, event(code="DLV", minutes=3))
    endpoint_deliver(endpoint_id=subscribed.pk)
    old_dead, recent_dead, pending = Delivery.objects.order_by("id")
    now = timezone.now()
    Delivery.objects.filter(pk=old_dead.pk).update(status=DeliveryStatus.DEAD, dead_at=now - timedelta(days=91))
    Delivery.objects.filter(pk=recent_dead.pk).update(status=DeliveryStatus.DEAD, dead_at=now - timedelta(days=89))
    Delivery.objects.filter(pk=pending.pk).update(status=DeliveryStatus.PENDING, created_at=now - timedelta(days=200))

    assert deliveries_purge() == 1
    assert set(Delivery.objects.values_list("pk", flat=True)) == {recent_dead.pk, pending.pk}


@pytest.mark.django_db(transaction=True)
def test_recorders_of_one_shipment_wait_for_each_other(postgres_only, taxonomy, acme, carrier, loopback_allowed):
    """Two numbers of one shipment (its own and a parcel's) recorded at once: the
    second recorder waits until the first commits, so delivery ids follow commit
    order and the sender (which goes by id) cannot send them the other way round."""
    import threading

    from django.db import connection as default_connection

    from tracking.services import ParcelInput

    shipment_register(
        customer=acme, carrier_id=carrier.pk, carrier_tracking_id="SHIP1", parcels=[ParcelInput("PARCEL1")]
    )
    endpoint_subscribe(customer=acme, url="http://127.0.0.1:9/hooks")
    holding, release, second_done = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():
                record(carrier, event(tracking_id="PARCEL1", minutes=1))
                holding.set()
                release.wait(20)
        finally:
            default_connection.close()

    def second() -> None:
        try:
            holding.wait(20)
            record(carrier, event(tracking_id="SHIP1", minutes=2))
            second_done.set()
        finally:
            default_connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert holding.wait(20)
    waited = not second_done.wait(1.0)  # still blocked while the first holds its transaction open
    release.set()
    for thread in threads:
        thread.join(20)

    assert waited and second_done.is_set()
    first_delivery, second_delivery = Delivery.objects.order_by("id")
    assert first_delivery.first_event_id < second_delivery.first_event_id
