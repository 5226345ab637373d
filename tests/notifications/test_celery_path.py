"""The whole path through the real broker (Redis in CI, the filesystem broker
locally) and a real worker: record → enqueue after commit → send; a retry via a
broker countdown; a lost message recovered by the sweeper."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone
from standardwebhooks import Webhook

from gluey.celery import app
from notifications.models import Delivery, DeliveryStatus
from notifications.services import deliveries_sweep, endpoint_subscribe
from tests.factories import event
from tests.notifications.conftest import record
from tests.notifications.receiver import Reply
from tracking.services import shipment_register

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("taxonomy"),
    pytest.mark.slow,  # real broker round trips
]


def wait_until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def all_delivered() -> bool:
    return not Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists()


def test_record_send_retry_and_sweep_through_the_broker(acme, carrier, receiver, loopback_allowed, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = (0.5,)
    settings.WEBHOOK_RETRY_JITTER = 0
    shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="JD0002234001100086")
    endpoint, secret = endpoint_subscribe(customer=acme, url=receiver.url())
    receiver.script(Reply(500), Reply(200))

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=["notify"]):
        # 1. Recorded → woken after commit → fails → retried by a broker countdown → delivered.
        record(carrier, event(code="HUB", minutes=1))
        assert wait_until(lambda: Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 1)
        first, second = receiver.requests
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        (item,) = Webhook(secret).verify(second.body, second.headers)
        assert item["event"]["codes"]["carrier"]["code"] == "HUB"

    # 2. A delivery whose broker message was lost (written with no worker running and
    # no wake-up sent): only the sweeper can find it.
    Delivery.objects.create(
        endpoint=endpoint,
        customer=acme,
        body="[]",
        created_at=timezone.now(),
        next_attempt_at=timezone.now() - timezone.timedelta(minutes=1),
        deadline_at=timezone.now() + timezone.timedelta(hours=24),
    )
    assert deliveries_sweep()["woken"] == 1
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=["notify"]):
        assert wait_until(all_delivered)
    assert len(receiver.requests) == 3
