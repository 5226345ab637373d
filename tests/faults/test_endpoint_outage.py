"""A customer's endpoint is down for a long window, then comes back.

Time is simulated: after each failed attempt the stored times move back by
the delay the sender chose (``SimulatedClock``), so a day of retries runs in
a second against a real local HTTP receiver. Checked: each retry re-sends the
same delivery (same webhook-id, same body), the delays follow the published
schedule (10 s, 30 s, 1 min, 5 min, … within ±20 %), later deliveries wait
behind the failing one, a healthy endpoint of the same customer is not held
up, and when the endpoint is back every recorded event reaches it in order —
after 24 hours through a replay of the dead-lettered window.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from notifications import conf
from notifications.models import Delivery, DeliveryStatus, WebhookEndpoint
from notifications.services import endpoint_deliver, endpoint_subscribe
from tests.factories import event, make_carrier, make_customer
from tests.faults.support import SimulatedClock
from tests.notifications.receiver import Receiver, Reply
from tracking.models import TrackingEvent
from tracking.services import events_record, shipment_register

pytestmark = [pytest.mark.django_db, pytest.mark.slow]  # fault injection

HOUR = 3600.0


@pytest.fixture
def second_receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def acme_two_endpoints(receiver, second_receiver, loopback_allowed):
    """acme follows one number and has two endpoints: ``down`` (receiver) and ``up`` (second_receiver)."""
    carrier = make_carrier()
    acme, key = make_customer("acme")
    shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="JD0002234001100086")
    down, _ = endpoint_subscribe(customer=acme, url=receiver.url("/down"))
    up, _ = endpoint_subscribe(customer=acme, url=second_receiver.url("/up"))
    return carrier, acme, key, down, up


def events_in(requests) -> list[tuple[str, str]]:
    out = []
    for request in requests:
        for item in json.loads(request.body):
            out.append((item["event"]["codes"]["carrier"]["code"], item["event"]["event_time"]["carrier_utc"]))
    return out


def seconds_until_retry(endpoint: WebhookEndpoint) -> float:
    endpoint.refresh_from_db()
    assert endpoint.retry_at is not None
    return (endpoint.retry_at - timezone.now()).total_seconds()


def recorded_events() -> set[tuple[str, str]]:
    from tracking.representations import tracking_event_dict

    return {
        (d["codes"]["carrier"]["code"], d["event_time"]["carrier_utc"])
        for d in (tracking_event_dict(e) for e in TrackingEvent.objects.all())
    }


def test_endpoint_down_twenty_hours_then_back_gets_everything_in_order(acme_two_endpoints, receiver, second_receiver):
    carrier, _, _, down, up = acme_two_endpoints
    receiver.script(Reply(503, b"maintenance"))
    clock = SimulatedClock()
    schedule = conf.retry_schedule()
    jitter = conf.retry_jitter()

    events_record(carrier=carrier, events=[event(code="PCK", minutes=0)], channel="webhook")
    events_record(carrier=carrier, events=[event(code="HUB", minutes=60)], channel="webhook")
    assert endpoint_deliver(endpoint_id=up.pk).delivered == 2
    assert endpoint_deliver(endpoint_id=down.pk).failed == 1
    first = Delivery.objects.filter(endpoint=down).order_by("id").first()

    step, minute = 0, 120
    while True:
        wait = seconds_until_retry(down)
        if clock.elapsed + wait > 20 * HOUR:
            break
        expected = schedule[step] if step < len(schedule) else conf.retry_every()
        assert expected * (1 - jitter) - 1 <= wait <= expected * (1 + jitter) + 1, (step, wait)
        clock.advance(wait + 0.01)
        if step % 3 == 0:
            # Carriers keep reporting during the outage; the healthy endpoint gets it at once.
            events_record(carrier=carrier, events=[event(code="DEP", minutes=minute)], channel="webhook")
            assert endpoint_deliver(endpoint_id=up.pk).delivered == 1
            minute += 60
        result = endpoint_deliver(endpoint_id=down.pk)
        assert (result.delivered, result.failed) == (0, 1)
        step += 1
    assert step >= 9  # the whole schedule: 10 s, 30 s, 1 min, … 6 h

    # Every attempt so far was the oldest delivery, the same request each time.
    assert {r.headers["webhook-id"] for r in receiver.requests} == {first.msg_id}
    assert {r.body for r in receiver.requests} == {first.body.encode()}
    first.refresh_from_db()
    assert first.attempt_count == len(receiver.requests) == step + 1
    assert first.status == DeliveryStatus.PENDING  # 20 h is inside the 24 h window

    # The endpoint is back; the next retry drains the backlog in order.
    failed_requests = len(receiver.requests)
    receiver.script(Reply(204, b""))
    clock.advance(seconds_until_retry(down) + 0.01)
    back = endpoint_deliver(endpoint_id=down.pk)
    assert back.failed == 0, Delivery.objects.filter(endpoint=down).exclude(last_error="").values_list("last_error")
    assert not Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists()
    after = receiver.requests[failed_requests:]
    assert [r.headers["webhook-id"] for r in after] == list(
        Delivery.objects.filter(endpoint=down).order_by("id").values_list("msg_id", flat=True)
    )
    assert sorted(events_in(after)) == sorted(events_in(second_receiver.requests))
    assert set(events_in(after)) == recorded_events()
    down.refresh_from_db()
    assert down.failing_since is None and down.retry_at is None


def test_endpoint_down_past_the_retry_window_is_dead_lettered_then_replayed_with_the_same_ids(
    acme_two_endpoints, receiver, second_receiver
):
    carrier, acme, key, down, up = acme_two_endpoints
    receiver.script(Reply(500))
    clock = SimulatedClock()
    for minute in (0, 30, 60):
        events_record(carrier=carrier, events=[event(code="HUB", minutes=minute)], channel="webhook")
    endpoint_deliver(endpoint_id=up.pk)
    endpoint_deliver(endpoint_id=down.pk)
    tried = set()
    while clock.elapsed < 26 * HOUR and Delivery.objects.filter(endpoint=down, status=DeliveryStatus.PENDING).exists():
        clock.advance(max(seconds_until_retry(down), 0) + 0.01)
        endpoint_deliver(endpoint_id=down.pk)
        tried |= {r.headers["webhook-id"] for r in receiver.requests}
    # A day later everything queued for the endpoint is dead-lettered, none of it lost.
    dead = list(Delivery.objects.filter(endpoint=down).order_by("id"))
    assert [d.status for d in dead] == [DeliveryStatus.DEAD] * 3
    assert clock.elapsed >= conf.max_age() - 60  # the last try lands on the 24 h deadline

    # Back up; the customer replays the window through the API.
    receiver.script(Reply(200))
    since = (min(d.created_at for d in dead) - timedelta(minutes=1)).isoformat()
    client = APIClient(headers={"x-key": key, "x-version": "v1"})
    response = client.post(f"/accounts/{acme.account_number}/webhooks/tracking/replay", {"since": since}, format="json")
    # Dead-lettered for this endpoint, plus the healthy endpoint's delivered ones.
    assert response.status_code == 202 and response.json() == {"replayed": 6}, response.content
    endpoint_deliver(endpoint_id=down.pk)

    delivered = list(Delivery.objects.filter(endpoint=down).order_by("id"))
    assert [d.status for d in delivered] == [DeliveryStatus.DELIVERED] * 3
    replayed = receiver.requests[-3:]
    # Replays carry the original webhook-ids, so a receiver that saw an attempt can tell.
    assert [r.headers["webhook-id"] for r in replayed] == [d.msg_id for d in dead]
    assert tried <= {d.msg_id for d in dead}
    assert set(events_in(replayed)) == recorded_events() == set(events_in(second_receiver.requests))
