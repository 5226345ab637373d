"""POST /shipments and GET /shipments/{id}/track: fields, validation, scoping."""

from __future__ import annotations

import uuid
from datetime import timedelta
from datetime import timezone as dt_timezone

import pytest

from tests.api.helpers import error_text, event, record, register
from tests.factories import T0
from tracking.models import Parcel, Shipment
from tracking.types import CarrierEvent, Location

pytestmark = pytest.mark.django_db

FULL = {
    "carrier_id": "acme-post",
    "carrier_tracking_id": "JD0002234001100086",
    "uuid_ref": "order-1001",
    "tracking_level": "shipment",
    "references": {"shipper": "SHIP-1", "receiver": "RCV-9"},
    "meta_data": [{"key": "channel", "value": "web"}, {"key": "warehouse", "value": "LDS"}],
    "parcels": [
        {
            "carrier_tracking_id": "JD0002234001100087",
            "uuid_ref": "box-1",
            "meta_data": [{"key": "sku", "value": "A1"}],
        },
        {"carrier_tracking_id": "JD0002234001100088"},
    ],
}


def test_register_returns_201_with_the_full_shipment(api, carrier):
    response = api.post("/shipments", FULL, format="json")
    assert response.status_code == 201
    body = response.json()
    uuid.UUID(body["id"])
    assert body["carrier_id"] == "acme-post"
    assert body["carrier_tracking_id"] == "JD0002234001100086"
    assert body["uuid_ref"] == "order-1001"
    assert body["tracking_level"] == "shipment"
    assert body["references"] == {"shipper": "SHIP-1", "receiver": "RCV-9"}
    assert body["meta_data"] == FULL["meta_data"]
    assert [p["carrier_tracking_id"] for p in body["parcels"]] == ["JD0002234001100087", "JD0002234001100088"]
    first = body["parcels"][0]
    uuid.UUID(first["id"])
    assert first["uuid_ref"] == "box-1" and first["meta_data"] == [{"key": "sku", "value": "A1"}]
    assert "uuid_ref" not in body["parcels"][1] and "meta_data" not in body["parcels"][1]
    assert body["created_utc"].endswith("+00:00") and body["updated_utc"] == body["created_utc"]
    stored = Shipment.objects.get(pk=body["id"])
    assert stored.customer.name == "acme" and Parcel.objects.filter(shipment=stored).count() == 2


def test_minimal_registration_defaults_to_shipment_level(api, carrier):
    body = register(api, "T1")
    assert body["tracking_level"] == "shipment"
    assert body["references"] == {} and body["meta_data"] == [] and body["parcels"] == []
    assert "uuid_ref" not in body


def test_registering_again_returns_the_existing_shipment_with_200(api, carrier):
    first = api.post("/shipments", FULL, format="json").json()
    again = api.post("/shipments", {**FULL, "parcels": []}, format="json")
    assert again.status_code == 200
    assert again.json() == first
    without_ref = api.post(
        "/shipments", {"carrier_id": "acme-post", "carrier_tracking_id": FULL["carrier_tracking_id"]}, format="json"
    )
    assert without_ref.status_code == 200 and without_ref.json() == first
    assert Shipment.objects.count() == 1


def test_registering_again_with_another_uuid_ref_says_so_and_changes_nothing(api, carrier):
    first = api.post("/shipments", FULL, format="json").json()
    again = api.post("/shipments", {**FULL, "uuid_ref": "changed"}, format="json")
    assert again.status_code == 409
    detail = again.json()["detail"]
    assert first["id"] in detail and "'order-1001'" in detail and "'changed'" in detail
    assert Shipment.objects.get().uuid_ref == "order-1001"


def test_same_number_for_another_customer_is_their_own_shipment(api, globex_api, carrier):
    mine = register(api, "T1")
    response = globex_api.post("/shipments", {"carrier_id": "acme-post", "carrier_tracking_id": "T1"}, format="json")
    assert response.status_code == 201
    assert response.json()["id"] != mine["id"]


def test_unknown_carrier_is_422_naming_carrier_id(api, carrier):
    response = api.post("/shipments", {"carrier_id": "nope", "carrier_tracking_id": "T1"}, format="json")
    assert response.status_code == 422
    problem = response.json()["detail"]
    assert [p["loc"] for p in problem] == [["body", "carrier_id"]]
    assert problem[0]["msg"].startswith("Unknown carrier 'nope'. Known carriers: acme-post")
    assert not Shipment.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"carrier_id": "acme-post"}, "carrier_tracking_id: This field is required."),
        # Without carrier_id the carrier is detected from the number; acme-post has no number formats.
        ({"carrier_tracking_id": "T1"}, "carrier_id: 'T1' matches no configured carrier"),
        ({"carrier_id": "acme-post", "carrier_tracking_id": 123}, "carrier_tracking_id: Must be a string."),
        ({"carrier_id": "acme-post", "carrier_tracking_id": ""}, "carrier_tracking_id:"),
        ({"carrier_id": "acme-post", "carrier_tracking_id": "x" * 65}, "carrier_tracking_id:"),
        ({"carrier_id": "acme-post", "carrier_tracking_id": "T1", "tracking_level": "box"}, "tracking_level:"),
        ({"carrier_id": "acme-post", "carrier_tracking_id": "T1", "uuid_ref": None}, "uuid_ref:"),
        ({"carrier_id": "acme-post", "carrier_tracking_id": "T1", "references": "SHIP-1"}, "references:"),
        ({"carrier_id": "acme-post", "carrier_tracking_id": "T1", "references": {"shipper": 7}}, "references.shipper:"),
        ({"carrier_id": "acme-post", "carrier_tracking_id": "T1", "meta_data": {"k": "v"}}, "meta_data:"),
        ({"carrier_id": "acme-post", "carrier_tracking_id": "T1", "meta_data": [{"key": "k"}]}, "meta_data.0.value:"),
        (
            {"carrier_id": "acme-post", "carrier_tracking_id": "T1", "meta_data": [{"key": "k", "value": 1}]},
            "meta_data.0.value: Must be a string.",
        ),
        (
            {
                "carrier_id": "acme-post",
                "carrier_tracking_id": "T1",
                "meta_data": [{"key": str(i), "value": "v"} for i in range(21)],
            },
            "meta_data:",
        ),
        ({"carrier_id": "acme-post", "carrier_tracking_id": "T1", "parcels": [{}]}, "parcels.0.carrier_tracking_id:"),
        (
            {
                "carrier_id": "acme-post",
                "carrier_tracking_id": "T1",
                "parcels": [{"carrier_tracking_id": "P"}, {"carrier_tracking_id": "P"}],
            },
            "parcels:",
        ),
        (["acme-post", "T1"], "Invalid data"),
    ],
)
def test_invalid_registration_is_422_naming_the_field(api, carrier, payload, field):
    response = api.post("/shipments", payload, format="json")
    assert response.status_code == 422, response.content
    body = response.json()
    assert error_text(body).startswith(field)
    assert not Shipment.objects.exists()


def test_twenty_meta_data_items_are_accepted(api, carrier):
    meta = [{"key": f"k{i}", "value": f"v{i}"} for i in range(20)]
    assert register(api, "T1", meta_data=meta)["meta_data"] == meta


def test_malformed_json_is_400(api, carrier):
    response = api.post("/shipments", data='{"carrier_id": "acme-post",', content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


# --- GET /shipments/{id}/track --------------------------------------------------------


def _rich_events() -> list[CarrierEvent]:
    minus5 = dt_timezone(timedelta(hours=-5))
    return [
        CarrierEvent(
            tracking_id="T1",
            code="PCK",
            occurred_at=(T0 + timedelta(minutes=5)).astimezone(minus5),
            description="Picked up",
            location=Location(
                city="Boston",
                state="MA",
                iso_country="US",
                postal_code="02110",
                code="BOS1",
                code_type="depot",
                description="Boston depot",
                lat=42.35,
                lng=-71.05,
            ),
            meta=(("route", "7"),),
        ),
        CarrierEvent(
            tracking_id="T1",
            code="DLV",
            sub_code="NB",
            occurred_at=T0 + timedelta(hours=30),
            description="Delivered to neighbour",
            location=Location(city="Leeds", iso_country="GB", name="No. 12", street="1 High St"),
            signed_by="J SMITH",
            eta=T0 + timedelta(hours=29),
        ),
    ]


def test_track_one_shipment_has_every_field(api, carrier):
    shipment = register(
        api, "T1", uuid_ref="order-1", references={"shipper": "S1"}, parcels=[{"carrier_tracking_id": "P1"}]
    )
    # Recorded out of carrier order: the response is oldest first by carrier time.
    record("acme-post", _rich_events()[1])
    record("acme-post", _rich_events()[0])
    response = api.get(f"/shipments/{shipment['id']}/track")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == shipment["id"] and body["uuid_ref"] == "order-1"
    assert body["tracking_level"] == "shipment" and body["references"] == {"shipper": "S1"}
    assert body["carrier_id"] == "acme-post" and body["carrier_tracking_id"] == "T1"
    assert body["parcels"] is None  # Gluey: only for parcel-level shipments
    data = body["tracking_data"]
    assert data["current_eta"] == (T0 + timedelta(hours=29)).isoformat()
    # Gluey's model requires photo_format; with no photo we name the format one would have.
    assert data["delivery_confirmation"] == {"signed_by": "J SMITH", "photo_format": "jpeg"}
    first, last = data["events"]
    assert first["event_time"]["carrier_utc"] == "2026-11-28T04:05:00-05:00"
    assert first["event_time"]["created_utc"].endswith("+00:00")
    assert first["codes"]["gluey"]["milestone"] == "collection"
    assert first["codes"]["gluey"]["freetext_detail"]
    assert first["codes"]["carrier"] == {"code": "PCK", "freetext_detail": "Picked up"}
    assert first["location"] == {
        "carrier_location_coding": {"code": "BOS1", "description": "Boston depot", "type": "local_depot"},
        "address": {
            "type": "local_depot",
            "name": "",
            "postal_code": "02110",
            "city": "Boston",
            "state": "MA",
            "iso_country": "US",
        },
        "geo": {"lat": 42.35, "lng": -71.05},
    }
    assert first["carrier_meta_data"] == [
        {"key": "route", "value": "7"},
        {"key": "location_code_type", "value": "depot"},
    ]
    assert "eta" not in first
    assert last["codes"]["gluey"] | {"freetext_detail": None} == {
        "milestone": "delivery",
        "code": "delivered",
        "sub_code": "left_with_neighbor",
        "freetext_detail": None,
    }
    assert last["codes"]["carrier"] == {"code": "DLV", "sub_code": "NB", "freetext_detail": "Delivered to neighbour"}
    assert last["location"] == {
        "address": {"name": "No. 12", "street": "1 High St", "city": "Leeds", "iso_country": "GB"}
    }
    assert last["eta"] == (T0 + timedelta(hours=29)).isoformat()
    assert last["other"] == {
        "eta": (T0 + timedelta(hours=29)).isoformat(),
        "delivery_confirmation": {"signed_by": "J SMITH", "photo_format": "jpeg"},
    }
    assert response["x-last-updated"].endswith("Z")


def test_a_shipment_without_events_is_204_with_no_body(api, carrier):
    shipment = register(api, "QUIET", tracking_level="parcel", parcels=[{"carrier_tracking_id": "QP"}])
    response = api.get(f"/shipments/{shipment['id']}/track")
    assert response.status_code == 204 and response.content == b""
    record("acme-post", event(tracking_id="QP"))
    assert api.get(f"/shipments/{shipment['id']}/track").status_code == 200


def test_parcel_level_shipment_tracks_each_parcel(api, carrier):
    shipment = register(
        api,
        "MASTER",
        tracking_level="parcel",
        parcels=[{"carrier_tracking_id": "P1", "uuid_ref": "box-1"}, {"carrier_tracking_id": "P2"}],
    )
    record("acme-post", event(tracking_id="P1", code="OFD", minutes=10), event(tracking_id="MASTER", code="HUB"))
    body = api.get(f"/shipments/{shipment['id']}/track").json()
    # Events on the master number show too, as the shipment's own tracking data.
    assert [e["codes"]["carrier"]["code"] for e in body["tracking_data"]["events"]] == ["HUB"]
    by_number = {p["carrier_tracking_id"]: p for p in body["parcels"]}
    # condition is a ParcelCondition (what the carrier said of its state), never a milestone.
    assert by_number["P1"]["condition"] == "unknown" and by_number["P1"]["uuid_ref"] == "box-1"
    assert [e["codes"]["carrier"]["code"] for e in by_number["P1"]["tracking_data"]["events"]] == ["OFD"]
    assert by_number["P2"]["condition"] == "unknown" and by_number["P2"]["tracking_data"] == {"events": []}


def test_events_recorded_before_registration_are_shown(api, carrier):
    record("acme-post", event(tracking_id="EARLY", code="PCK"))
    shipment = register(api, "EARLY")
    events = api.get(f"/shipments/{shipment['id']}/track").json()["tracking_data"]["events"]
    assert [e["codes"]["carrier"]["code"] for e in events] == ["PCK"]


def test_another_customers_shipment_is_indistinguishable_from_a_missing_one(api, globex_api, carrier):
    theirs = register(globex_api, "T1")
    record("acme-post", event(tracking_id="T1"))
    answers = [
        api.get(f"/shipments/{theirs['id']}/track"),
        api.get(f"/shipments/{uuid.uuid4()}/track"),
        api.get("/shipments/not-a-uuid/track"),
    ]
    assert [(r.status_code, r.json()) for r in answers] == [(404, {"detail": "Shipment not found."})] * 3
    assert globex_api.get(f"/shipments/{theirs['id']}/track").status_code == 200


def test_unknown_paths_and_methods_are_json_404_never_html(api, client):
    paths = ("/shipments/", "/shipments/x/y/track", "/track/", "/events/1", "/nothing-here", "/carriers/x/y")
    for caller in (api, client):  # with and without a key; POST without a CSRF token too
        for method in ("get", "post", "put", "delete"):
            for path in (*paths, "/shipments/6f1c1b6e-3b7a-4a53-9d2e-5b8b3f1f2a10/labels"):
                response = getattr(caller, method)(path)
                assert response.status_code == 404, (method, path)
                assert response["Content-Type"] == "application/json"
                assert response.json()["detail"] == (
                    f"Not found: {method.upper()} {path} is not an endpoint of this API (see /api/docs)."
                )


def test_wrong_method_is_405_json(api):
    response = api.get("/shipments")
    assert response.status_code == 405
    assert response.json()["detail"] == 'Method "GET" not allowed.'
    for method, path in (("put", "/track"), ("delete", "/events"), ("patch", "/shipments")):
        response = getattr(api, method)(path)
        assert response.status_code == 405 and response["Content-Type"] == "application/json", (method, path)


def test_a_label_creation_request_is_422_saying_how_to_register_instead(api, carrier):
    gluey_label_request = {
        "carrier": {"carrier_id": "acme-post", "service_code": "standard"},
        "shipment": {"references": {"shipper": "S1"}, "addresses": {}, "parcels": [{"weight": {"value": 1}}]},
    }
    response = api.post("/shipments", gluey_label_request, format="json")
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body"] and problem["type"] == "label_creation_not_offered"
    assert "Label creation" in problem["msg"] and '"carrier_tracking_id"' in problem["msg"]
    assert not Shipment.objects.exists()
