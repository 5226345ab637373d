"""Security personas: two customers, everything each can own.

``acme`` and ``globex`` both hold an API key, follow the same tracking number
(shared history) plus one of their own, have a webhook endpoint, a delivery,
and an sFTP destination. ``world.secrets`` lists every secret the test gave
the system in clear, so a test can look for it in the raw database.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pytest
from django.test import Client

from notifications.models import SftpDestination
from notifications.services import endpoint_subscribe
from tests.factories import event, make_carrier, make_customer
from tracking.models import Customer, Shipment
from tracking.services import events_record, shipment_register

SHARED = "JD0002234001100086"


@dataclass
class Tenant:
    customer: Customer
    key: str
    shipment: Shipment  # of its own number
    shared: Shipment  # of the number both follow
    endpoint_secret: str
    destination: SftpDestination

    def api(self, **headers: str) -> Client:
        return Client(headers={"x-key": self.key, "x-version": "v1", **headers})


@dataclass
class World:
    acme: Tenant
    globex: Tenant
    secrets: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def private_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "sec"}}


@pytest.fixture
def world(db, settings, private_cache) -> World:
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    carrier = make_carrier(
        "acme-post",
        host="sftp.carrier.example",
        port=22,
        username="gluey",
        password="carrier-sftp-pw-7Q2",
        host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDnnVlJ9MbdMefXbHq9p3uWeJqA1F2vXbkB0aqI0cPQR",
        remote_dir="/out",
        client_secret="carrier-client-secret-9Z1",
    )
    tenants = {}
    secrets: dict[str, str] = {
        "carrier webhook secret": carrier.webhook_secret,
        "carrier sftp password": "carrier-sftp-pw-7Q2",
        "carrier client secret": "carrier-client-secret-9Z1",
    }
    for name in ("acme", "globex"):
        customer, key = make_customer(name)
        own, _ = shipment_register(
            customer=customer,
            carrier_id=carrier.pk,
            carrier_tracking_id=f"{name.upper()}0001",
            uuid_ref=f"{name}-order-1",
            meta_data=[{"key": "owner", "value": name}],
        )
        shared, _ = shipment_register(
            customer=customer, carrier_id=carrier.pk, carrier_tracking_id=SHARED, uuid_ref=f"{name}-order-2"
        )
        _, first_secret = endpoint_subscribe(customer=customer, url=f"http://127.0.0.1:9/{name}")
        _, endpoint_secret = endpoint_subscribe(customer=customer, url=f"http://127.0.0.1:9/{name}")  # rotated
        destination = SftpDestination.objects.create(
            customer=customer,
            name=f"{name}-sftp",
            host="sftp.example.com",
            username=name,
            password=f"{name}-dest-pw-4K8",
            private_key="",
            passphrase=f"{name}-passphrase-3J5",
            host_keys="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDnnVlJ9MbdMefXbHq9p3uWeJqA1F2vXbkB0aqI0cPQR",
            isa_receiver_id=name.upper(),
        )
        tenants[name] = Tenant(customer, key, own, shared, endpoint_secret, destination)
        secrets.update(
            {
                f"{name} api key": key,
                f"{name} api key secret part": key.partition(".")[2],
                f"{name} endpoint secret": endpoint_secret,
                f"{name} rotated-out secret": first_secret,
                f"{name} destination password": f"{name}-dest-pw-4K8",
                f"{name} destination passphrase": f"{name}-passphrase-3J5",
            }
        )
    events_record(
        carrier=carrier,
        channel="webhook",
        events=[
            event(tracking_id=SHARED, code="HUB"),
            event(tracking_id="ACME0001", code="PCK"),
            event(tracking_id="GLOBEX0001", code="PCK", minutes=5),
        ],
    )
    return World(acme=tenants["acme"], globex=tenants["globex"], secrets=secrets)
