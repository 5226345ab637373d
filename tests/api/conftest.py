"""API personas: acme and globex each hold a key; clients send x-key and x-version."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from tests.api.helpers import event, record
from tests.factories import make_customer
from tracking.representations import clear_description_cache
from tracking.services import ParcelInput, shipment_register


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    # The throttle counts in the cache; a private in-memory cache per test keeps counts apart.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api-tests"}}
    from django.core.cache import cache

    cache.clear()
    yield
    clear_description_cache()


def client_for(key: str | None, version: str | None = "v1") -> APIClient:
    headers = {}
    if key is not None:
        headers["x-key"] = key
    if version is not None:
        headers["x-version"] = version
    client = APIClient(headers=headers)
    return client


@pytest.fixture
def api(acme) -> APIClient:
    """acme's client."""
    return client_for(acme.api_key)


@pytest.fixture
def globex(db):
    customer, key = make_customer("globex")
    customer.api_key = key
    return customer


@pytest.fixture
def globex_api(globex) -> APIClient:
    return client_for(globex.api_key)


@pytest.fixture
def shipments(acme, carrier):
    """A parcel-level shipment with events on the master and a parcel, one with rich events, one without."""
    master, _ = shipment_register(
        customer=acme,
        carrier_id="acme-post",
        carrier_tracking_id="M1",
        uuid_ref="order-1",
        tracking_level="parcel",
        meta_data=[{"key": "k", "value": "v"}],
        parcels=[ParcelInput(carrier_tracking_id="M1-P2", meta_data=[{"key": "x", "value": "y"}])],
    )
    rich, _ = shipment_register(customer=acme, carrier_id="acme-post", carrier_tracking_id="R1")
    empty, _ = shipment_register(customer=acme, carrier_id="acme-post", carrier_tracking_id="E1")
    record(
        "acme-post",
        event(tracking_id="M1", code="PCK"),
        event(tracking_id="M1-P2", code="OFD", minutes=3, condition="damaged"),
        event(
            tracking_id="R1",
            code="DLV",
            minutes=5,
            signed_by="J. Smith",
            weight_kg=1.5,
            dimensions_cm=(30.0, 20.0, 10.0),
            shipping_cost=4.2,
            shipping_cost_currency="GBP",
            eta=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        ),
    )
    return {"master": str(master.pk), "rich": str(rich.pk), "empty": str(empty.pk)}
