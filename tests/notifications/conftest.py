"""Notification personas: acme subscribes a real local receiver; the loopback
range is opened for outbound webhooks (as WEBHOOK_ALLOWED_NETWORKS would in dev)."""

from __future__ import annotations

import ipaddress

import pytest

from notifications.services import endpoint_subscribe
from tests.factories import event
from tests.notifications.receiver import Receiver
from tracking.services import events_record, shipment_register


@pytest.fixture(autouse=True)
def fast_webhooks(settings):
    settings.WEBHOOK_CONNECT_TIMEOUT = 2.0
    settings.WEBHOOK_TOTAL_TIMEOUT = 5.0
    settings.WEBHOOK_COUNTDOWN_MAX = 2.0


@pytest.fixture
def taxonomy(transactional_db) -> None:
    """Transactional tests flush every table afterwards, the migration-loaded
    taxonomy included; put it back for the tests that follow."""
    import csv
    from pathlib import Path

    from tracking.models import StatusCode

    if StatusCode.objects.exists():
        return
    path = Path(__file__).resolve().parents[2] / "tracking" / "taxonomy.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    StatusCode.objects.bulk_create(
        [
            StatusCode(milestone=r["milestone"], code=r["code"], sub_code=r["sub_code"], description=r["description"])
            for r in rows
        ]
    )


@pytest.fixture
def loopback_allowed(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def shipment(acme, carrier):
    shipment, _ = shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="JD0002234001100086")
    return shipment


@pytest.fixture
def subscribed(acme, receiver, loopback_allowed):
    """acme's endpoint at the receiver, with its clear secret as ``.clear_secret``."""
    endpoint, secret = endpoint_subscribe(customer=acme, url=receiver.url())
    endpoint.clear_secret = secret
    return endpoint


def record(carrier, *events_):
    return events_record(carrier=carrier, events=list(events_ or [event()]), channel="webhook")
