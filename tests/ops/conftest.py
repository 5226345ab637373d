"""Ops console personas.

``ops`` is a logged-in superuser's client; ``clerk`` is a logged-in user without
staff status. ``busy_day`` gives acme-post a day of events (one unmapped code,
one failed inbound message) and acme a subscribed endpoint with deliveries in
each state; parcelco is a second, quiet carrier.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from carriers.models import Carrier, InboundMessage, InboundStatus
from carriers.services import inbound_message_store
from gluey.celery import app as celery_app
from notifications.models import Delivery, DeliveryStatus, WebhookEndpoint
from notifications.services import endpoint_subscribe
from tests.factories import event, make_carrier
from tracking.models import Shipment
from tracking.services import events_record, shipment_register


@pytest.fixture
def ops(client, db):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "ops-password-1")
    client.force_login(user)
    return client


@pytest.fixture
def clerk(client, db):
    user = get_user_model().objects.create_user("clerk", "clerk@example.com", "clerk-password-1")
    client.force_login(user)
    return client


@pytest.fixture
def eager_tasks(settings):
    """Run queued Celery tasks inline (for this test only), e.g. after on_commit."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


@dataclass
class BusyDay:
    carrier: Carrier
    quiet: Carrier
    shipment: Shipment
    endpoint: WebhookEndpoint
    failed_message: InboundMessage


@pytest.fixture
def loopback_allowed(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]


@pytest.fixture
def busy_day(db, acme, loopback_allowed) -> BusyDay:
    now = timezone.now()
    carrier = make_carrier("acme-post")
    quiet = make_carrier("parcelco")
    shipment, _ = shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="JD0002234001100086")
    # Nothing listens on port 9; no delivery is attempted here anyway (wake-ups run after commit).
    endpoint, _ = endpoint_subscribe(customer=acme, url="http://127.0.0.1:9/gluey")
    # Three events recorded 5, 3 and 1 hours ago, each 10 minutes after the carrier's event time.
    for hours_ago, code in ((5, "HUB"), (3, "DEP"), (1, "ZZZ-UNKNOWN")):
        recorded = now - timedelta(hours=hours_ago)
        events_record(
            carrier=carrier,
            events=[replace(event(code=code), occurred_at=recorded - timedelta(minutes=10))],
            channel="webhook",
            now=recorded,
        )
    stored = inbound_message_store(carrier=carrier, channel="webhook", body=b"not json at all", process=False)
    InboundMessage.objects.filter(pk=stored.message.pk).update(status=InboundStatus.FAILED, error="not JSON")
    deliveries = list(Delivery.objects.filter(endpoint=endpoint).order_by("id"))
    assert len(deliveries) >= 2, "the outbox should have written a delivery per recorded event"
    Delivery.objects.filter(pk=deliveries[0].pk).update(status=DeliveryStatus.DEAD, dead_at=now, attempt_count=9)
    Delivery.objects.filter(pk=deliveries[1].pk).update(status=DeliveryStatus.DELIVERED, delivered_at=now)
    return BusyDay(
        carrier=carrier,
        quiet=quiet,
        shipment=shipment,
        endpoint=endpoint,
        failed_message=InboundMessage.objects.get(pk=stored.message.pk),
    )
