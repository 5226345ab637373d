"""The ops console tells shipments registered by carrier detection from those registered with a carrier_id."""

from __future__ import annotations

import pytest

from tests.factories import make_carrier
from tracking.services import shipment_register, shipment_register_detected

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_shipments(acme):
    make_carrier("ups", adapter="ups")
    detected, _, _ = shipment_register_detected(customer=acme, carrier_tracking_id="1Z999AA10123456784")
    named, _ = shipment_register(customer=acme, carrier_id="ups", carrier_tracking_id="1ZXX3150YW44070023")
    return detected, named


def test_shipment_list_has_a_detected_column_and_filter(ops, two_shipments):
    detected, named = two_shipments
    page = ops.get("/admin/tracking/shipment/").content.decode()
    assert "carrier detected" in page and "Detected from the number" in page
    only_detected = ops.get("/admin/tracking/shipment/?carrier_detected=yes").content.decode()
    assert detected.carrier_tracking_id in only_detected and named.carrier_tracking_id not in only_detected
    only_named = ops.get("/admin/tracking/shipment/?carrier_detected=no").content.decode()
    assert named.carrier_tracking_id in only_named and detected.carrier_tracking_id not in only_named


def test_shipment_page_shows_the_detected_format(ops, two_shipments):
    detected, _ = two_shipments
    page = ops.get(f"/admin/tracking/shipment/{detected.pk}/change/").content.decode()
    assert "ups_1z" in page
