"""tracking.db.followers, item_events and item_relabels (prepared on PostgreSQL) give what the ORM gives."""

from __future__ import annotations

import pytest

from tests.factories import event, make_carrier, make_customer
from tracking import db
from tracking.models import Parcel, Shipment, TrackedItem, TrackingEvent
from tracking.services import ParcelInput, events_record, shipment_register

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_followers_are_the_orms_shipments_and_parcels_with_their_customers():
    carrier = make_carrier()
    acme, _ = make_customer("acme")
    other, _ = make_customer("other")
    shipment_register(
        customer=acme,
        carrier_id=carrier.pk,
        carrier_tracking_id="SHIP1",
        meta_data=[{"key": "service", "value": "express"}],
        parcels=[ParcelInput("PARCEL1", uuid_ref="p-1"), ParcelInput("SHIP1")],
    )
    shipment_register(customer=other, carrier_id=carrier.pk, carrier_tracking_id="SHIP1", uuid_ref="o-1")
    items = set(TrackedItem.objects.values_list("id", flat=True))

    shipments, parcels = db.followers(items)

    for item in items:
        expected = list(Shipment.objects.filter(tracked_item_id=item).select_related("customer"))
        found = shipments.get(item, [])
        assert [_fields(s) for s in found] == [_fields(s) for s in expected]  # Shipment.Meta.ordering kept
        assert [_fields(s.customer) for s in found] == [_fields(s.customer) for s in expected]
        expected_parcels = sorted(Parcel.objects.filter(tracked_item_id=item), key=lambda p: p.pk)
        found_parcels = sorted(parcels.get(item, []), key=lambda p: p.pk)
        assert [_fields(p) for p in found_parcels] == [_fields(p) for p in expected_parcels]
        assert [_fields(p.shipment) for p in found_parcels] == [_fields(p.shipment) for p in expected_parcels]
        assert [p.shipment.customer.name for p in found_parcels] == ["acme"] * len(expected_parcels)
    ship1 = TrackedItem.objects.get(tracking_id="SHIP1").pk
    assert {s.customer.name for s in shipments[ship1]} == {"acme", "other"}
    by_customer = {s.customer.name: s for s in shipments[ship1]}
    assert by_customer["acme"].meta_data == [{"key": "service", "value": "express"}]  # JSON decoded
    assert db.followers({-1}) == ({}, {})


def test_item_events_and_relabels_decode_json_in_carrier_time_order():
    carrier = make_carrier()
    late = event(tracking_id="R1", code="HUB", minutes=30, city="York")
    early = event(tracking_id="R1", code="PCK", minutes=10, city="Leeds")
    events_record(carrier=carrier.pk, events=[late, early], channel="manual")
    item = TrackedItem.objects.get(tracking_id="R1").pk
    rows = db.item_events({item}, ("tracked_item_id", "carrier_code", "location", "carrier_meta"))
    assert [(r[1], r[2]["city"]) for r in rows] == [("PCK", "Leeds"), ("HUB", "York")]
    assert rows[0][3] == []
    TrackingEvent.objects.filter(code="arrived_at_carrier_facility").update(other={"new_tracking_id": "R2"})
    relabels = db.item_relabels({item})
    assert [(i, other) for i, _, other in relabels] == [(item, {"new_tracking_id": "R2"})]
