"""Sending webhooks to a real local HTTP server, verified with the standardwebhooks library."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from notifications.models import Delivery, DeliveryAttempt, DeliveryStatus, WebhookEndpoint
from notifications.services import endpoint_deliver, endpoint_send_test, endpoint_subscribe
from tests.factories import event
from tests.notifications.conftest import record
from tests.notifications.receiver import Reply

pytestmark = pytest.mark.django_db


def verify(endpoint, received, secret=None):
    return Webhook(secret or endpoint.clear_secret).verify(received.body, received.headers)


def make_due(endpoint):
    """What the passing of time does: the endpoint's retry time arrives."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(retry_at=timezone.now() - timedelta(seconds=1))


def test_success_is_signed_verifiable_and_recorded(carrier, shipment, subscribed, receiver):
    record(carrier, event(code="HUB", minutes=1), event(code="OFD", minutes=2))
    delivery = Delivery.objects.get()
    assert delivery.event_count == 2 and delivery.status == DeliveryStatus.PENDING

    result = endpoint_deliver(endpoint_id=subscribed.pk)

    assert result.delivered == 1
    (received,) = receiver.requests
    payload = verify(subscribed, received)
    assert [p["event"]["codes"]["carrier"]["code"] for p in payload] == ["HUB", "OFD"]
    assert payload[0]["shipment_id"] == str(shipment.id)
    assert payload[0]["carrier_tracking_id"] == "JD0002234001100086"
    assert received.headers["webhook-id"] == delivery.msg_id
    assert received.headers["content-type"] == "application/json"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.delivered_at is not None
    (attempt,) = delivery.attempts.all()
    assert (attempt.status_code, attempt.succeeded, attempt.response_body) == (200, True, "ok")


def test_response_kept_is_capped_at_2_kb(carrier, shipment, subscribed, receiver):
    receiver.script(Reply(200, b"x" * 10_000))
    record(carrier)
    endpoint_deliver(endpoint_id=subscribed.pk)
    attempt = DeliveryAttempt.objects.get()
    assert attempt.response_body == "x" * 2048


def test_500_then_success_keeps_the_webhook_id_and_waits_for_the_retry_time(carrier, shipment, subscribed, receiver):
    receiver.script(Reply(500, b"boom"), Reply(200))
    record(carrier)
    before = timezone.now()

    first = endpoint_deliver(endpoint_id=subscribed.pk)

    assert (first.delivered, first.failed) == (0, 1)
    delivery = Delivery.objects.get()
    endpoint = WebhookEndpoint.objects.get(pk=subscribed.pk)
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempt_count == 1
    assert endpoint.failing_since is not None and endpoint.consecutive_failures == 1
    # First retry: 10 s ± 20 %.
    wait = (endpoint.retry_at - before).total_seconds()
    assert 8 <= wait <= 12.5
    assert delivery.next_attempt_at == endpoint.retry_at

    # Not due yet: nothing is sent.
    assert endpoint_deliver(endpoint_id=subscribed.pk).delivered == 0
    assert len(receiver.requests) == 1

    make_due(subscribed)
    assert endpoint_deliver(endpoint_id=subscribed.pk).delivered == 1

    first_req, second_req = receiver.requests
    assert first_req.headers["webhook-id"] == second_req.headers["webhook-id"] == delivery.msg_id
    assert verify(subscribed, second_req) == verify(subscribed, first_req)
    delivery.refresh_from_db()
    endpoint.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempt_count == 2
    assert [a.status_code for a in delivery.attempts.all()] == [500, 200]
    assert endpoint.failing_since is None and endpoint.consecutive_failures == 0 and endpoint.retry_at is None


def test_timeout_is_a_recorded_failure(carrier, shipment, subscribed, receiver, settings):
    settings.WEBHOOK_TOTAL_TIMEOUT = 0.5
    receiver.script(Reply(200, delay=3))
    record(carrier)

    endpoint_deliver(endpoint_id=subscribed.pk)

    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and not attempt.succeeded
    assert "timed out" in attempt.error
    assert Delivery.objects.get().status == DeliveryStatus.PENDING


def test_redirect_is_not_followed_and_counts_as_failure(carrier, shipment, subscribed, receiver):
    receiver.script(Reply(302, headers={"Location": receiver.url("/elsewhere")}))
    record(carrier)

    endpoint_deliver(endpoint_id=subscribed.pk)

    assert [r.path for r in receiver.requests] == ["/hooks"]
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 302
    assert "redirect" in delivery.last_error


def test_410_disables_the_endpoint(carrier, shipment, subscribed, receiver):
    receiver.script(Reply(410, b"gone"))
    record(carrier)

    endpoint_deliver(endpoint_id=subscribed.pk)

    endpoint = WebhookEndpoint.objects.get(pk=subscribed.pk)
    assert not endpoint.is_active and "410" in endpoint.disabled_reason
    assert Delivery.objects.get().status == DeliveryStatus.DEAD
    # A disabled endpoint gets no new deliveries.
    record(carrier, event(code="OFD", minutes=5))
    assert Delivery.objects.count() == 1


@pytest.mark.parametrize("status, header", [(429, "Retry-After"), (503, "RETRY-AFTER")])
def test_retry_after_is_honoured(carrier, shipment, subscribed, receiver, status, header):
    receiver.script(Reply(status, headers={header: "120"}))
    record(carrier)
    before = timezone.now()

    endpoint_deliver(endpoint_id=subscribed.pk)

    endpoint = WebhookEndpoint.objects.get(pk=subscribed.pk)
    wait = (endpoint.retry_at - before).total_seconds()
    assert 119 <= wait <= 122  # the server's 120 s, not the schedule's 10 s


def test_dead_letter_after_the_retry_window(carrier, shipment, subscribed, receiver):
    receiver.script(Reply(500))
    record(carrier, event(minutes=1))
    record(carrier, event(code="OFD", minutes=2))
    head, behind = Delivery.objects.order_by("id")
    # Both were created 24 h ago: the window has passed.
    Delivery.objects.update(deadline_at=timezone.now() - timedelta(seconds=1))

    endpoint_deliver(endpoint_id=subscribed.pk)

    head.refresh_from_db()
    behind.refresh_from_db()
    assert head.status == DeliveryStatus.DEAD and head.dead_at is not None and head.attempt_count == 1
    # The one that waited behind it expired too, without a pointless attempt.
    assert behind.status == DeliveryStatus.DEAD and behind.attempt_count == 0


def test_last_retry_lands_on_the_deadline(carrier, shipment, subscribed, receiver):
    receiver.script(Reply(500))
    record(carrier)
    deadline = timezone.now() + timedelta(seconds=3)
    Delivery.objects.update(deadline_at=deadline)

    endpoint_deliver(endpoint_id=subscribed.pk)

    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at == deadline


def test_an_endpoint_sends_in_order_and_waits_behind_a_failure(carrier, shipment, subscribed, receiver):
    receiver.script(Reply(500))
    # 250 events of one shipment in one batch (3 deliveries), then two more batches.
    record(carrier, *[event(code="HUB", minutes=i, city=f"Hub {i}") for i in range(250, 0, -1)])
    record(carrier, event(code="OFD", minutes=300))
    record(carrier, event(code="DLV", minutes=301))
    assert Delivery.objects.count() == 5

    endpoint_deliver(endpoint_id=subscribed.pk)
    make_due(subscribed)
    endpoint_deliver(endpoint_id=subscribed.pk)
    # Only the oldest delivery was tried, twice; the others waited behind it.
    assert len(receiver.requests) == 2
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1

    receiver.script(Reply(200))
    make_due(subscribed)
    assert endpoint_deliver(endpoint_id=subscribed.pk).delivered == 5

    times = [
        item["event"]["event_time"]["carrier_utc"]
        for received in receiver.requests[2:]
        for item in verify(subscribed, received)
    ]
    assert len(times) == 252
    assert times == sorted(times)
    assert [len(verify(subscribed, r)) for r in receiver.requests[2:]] == [100, 100, 50, 1, 1]


def test_a_failing_endpoint_does_not_hold_up_a_healthy_one(acme, carrier, shipment, subscribed, receiver):
    from tests.notifications.receiver import Receiver

    broken = Receiver().start()
    try:
        broken.script(Reply(503))
        other, _ = endpoint_subscribe(customer=acme, url=broken.url())
        record(carrier, event(minutes=1))
        endpoint_deliver(endpoint_id=other.pk)
        record(carrier, event(code="OFD", minutes=2))
        record(carrier, event(code="DLV", minutes=3))

        # The broken endpoint is not tried again before its retry time...
        assert endpoint_deliver(endpoint_id=other.pk).delivered == 0
        assert len(broken.requests) == 1
        # ...while the healthy one gets everything.
        assert endpoint_deliver(endpoint_id=subscribed.pk).delivered == 3
        assert Delivery.objects.filter(endpoint=other, status=DeliveryStatus.PENDING).count() == 3
    finally:
        broken.stop()


def test_a_leased_endpoint_is_left_to_its_sender(carrier, shipment, subscribed, receiver):
    record(carrier)
    WebhookEndpoint.objects.filter(pk=subscribed.pk).update(
        lease_token="someone", lease_until=timezone.now() + timedelta(minutes=1)
    )
    result = endpoint_deliver(endpoint_id=subscribed.pk)
    assert result.busy and receiver.requests == []


def test_secret_rotation_signs_with_both_secrets(acme, carrier, shipment, subscribed, receiver):
    old_secret = subscribed.clear_secret
    _, new_secret = endpoint_subscribe(customer=acme, url=receiver.url())
    assert new_secret != old_secret
    record(carrier)

    endpoint_deliver(endpoint_id=subscribed.pk)

    (received,) = receiver.requests
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old_secret).verify(received.body, received.headers)
    assert Webhook(new_secret).verify(received.body, received.headers)


def test_rotation_overlap_ends(acme, carrier, shipment, subscribed, receiver):
    _, new_secret = endpoint_subscribe(customer=acme, url=receiver.url())
    WebhookEndpoint.objects.filter(pk=subscribed.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    record(carrier)
    endpoint_deliver(endpoint_id=subscribed.pk)
    (received,) = receiver.requests
    assert len(received.headers["webhook-signature"].split(" ")) == 1
    assert Webhook(new_secret).verify(received.body, received.headers)


def test_parcel_events_carry_the_parcel(acme, carrier, subscribed, receiver):
    from tracking.services import ParcelInput, shipment_register

    shipment, _ = shipment_register(
        customer=acme,
        carrier_id=carrier.pk,
        carrier_tracking_id="SHIP1",
        tracking_level="parcel",
        parcels=[ParcelInput(carrier_tracking_id="PARCEL1", uuid_ref="p-1")],
    )
    record(carrier, event(tracking_id="PARCEL1"))
    endpoint_deliver(endpoint_id=subscribed.pk)
    (item,) = verify(subscribed, receiver.requests[0])
    assert item["shipment_id"] == str(shipment.id)
    parcel = shipment.parcels.get()
    # Gluey's TrackingEventParcel names.
    assert item["parcel"] == {"parcel_id": str(parcel.id), "parcel_uuid_ref": "p-1", "carrier_tracking_id": "PARCEL1"}


def test_admin_test_event_is_sent_and_recorded(acme, subscribed, receiver):
    attempt = endpoint_send_test(endpoint=subscribed)

    assert attempt.succeeded and attempt.status_code == 200
    (item,) = verify(subscribed, receiver.requests[0])
    gluey = item["event"]["codes"]["gluey"]
    assert (gluey["milestone"], gluey["code"], gluey["sub_code"]) == ("start", "start", "gluey_test")
    # Recorded, but never queued behind or ahead of real deliveries.
    assert Delivery.objects.get().status == DeliveryStatus.DELIVERED
    assert not Delivery.objects.filter(status=DeliveryStatus.PENDING).exists()


def test_body_is_exactly_what_was_signed(carrier, shipment, subscribed, receiver):
    record(carrier, event(description="Zugestellt — Nachbar"))
    endpoint_deliver(endpoint_id=subscribed.pk)
    (received,) = receiver.requests
    assert received.body.decode() == Delivery.objects.get().body
    assert json.loads(received.body)[0]["event"]["codes"]["carrier"]["freetext_detail"] == "Zugestellt — Nachbar"


def test_retry_schedule_with_jitter():
    import random

    from notifications.services import retry_delay

    rng = random.Random(7)
    bases = [10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 12 * 3600]
    for step, base in enumerate(bases):
        delays = [retry_delay(step=step, rng=rng) for _ in range(200)]
        assert all(0.8 * base <= d <= 1.2 * base for d in delays)
        assert max(delays) - min(delays) > 0.2 * base  # jitter is really applied


def test_retry_after_in_seconds_or_as_a_date_and_capped():
    from datetime import datetime

    from notifications.services import retry_after_seconds

    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("120", now=now) == 120
    assert retry_after_seconds("Sat, 28 Nov 2026 12:05:00 GMT", now=now) == 300
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds("9999999", now=now) == 12 * 3600


def test_a_relabel_is_repeated_on_every_later_event_of_the_parcel(acme, carrier, subscribed, receiver):
    from tracking.services import ParcelInput, shipment_register

    shipment_register(
        customer=acme,
        carrier_id=carrier.pk,
        carrier_tracking_id="SHIP2",
        tracking_level="parcel",
        parcels=[ParcelInput(carrier_tracking_id="PARCEL2")],
    )
    record(carrier, event(tracking_id="PARCEL2", code="HUB", minutes=1))
    record(
        carrier,
        event(tracking_id="PARCEL2", code="HUB", minutes=2, new_tracking_id="NEW-77", new_tracking_url="https://t/77"),
    )
    record(carrier, event(tracking_id="PARCEL2", code="DLV", minutes=3))
    endpoint_deliver(endpoint_id=subscribed.pk)
    items = [item for received in receiver.requests for item in verify(subscribed, received)]
    updates = [item["parcel"].get("carrier_tracking_update") for item in items]
    relabel = {"new_carrier_tracking_id": "NEW-77", "new_carrier_tracking_url": "https://t/77"}
    assert updates == [None, relabel, relabel]
    assert all("carrier_tracking_update" not in item for item in items)  # parcel level: on the parcel
