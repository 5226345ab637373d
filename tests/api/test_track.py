"""POST /track: order, headers, limits, scoping, constant query count."""

from __future__ import annotations

import uuid
from urllib.parse import unquote

import orjson
import pytest

from tests.api.helpers import error_text, event, record, register
from tracking.selectors import shipment_for_customer

pytestmark = pytest.mark.django_db


def ids_of(response) -> list[str]:
    return [s["id"] for s in response.json()]


def test_returns_shipments_in_request_order_with_last_updated(api, carrier):
    a, b, c = (register(api, n) for n in ("A1", "B1", "C1"))
    created = record("acme-post", event(tracking_id="A1"), event(tracking_id="C1", minutes=5))
    response = api.post("/track", {"ids": [c["id"], a["id"], b["id"]]}, format="json")
    assert response.status_code == 200
    assert ids_of(response) == [c["id"], a["id"], b["id"]]
    # Gluey's documented format: UTC with a Z.
    assert response["x-last-updated"] == max(e.recorded_at for e in created).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "x-not-found" not in response
    first = response.json()[0]
    assert set(first) == {
        "id",
        "tracking_level",
        "carrier_id",
        "carrier_tracking_id",
        "references",
        "parcels",
        "tracking_data",
    }
    assert (first["carrier_id"], first["carrier_tracking_id"], first["parcels"]) == ("acme-post", "C1", [])
    assert [e["codes"]["carrier"]["code"] for e in first["tracking_data"]["events"]] == ["HUB"]


def test_missing_ids_are_left_out_and_named(api, carrier):
    a = register(api, "A1")
    ghost = str(uuid.uuid4())
    response = api.post("/track", {"ids": [ghost, a["id"]]}, format="json")
    assert response.status_code == 200
    assert ids_of(response) == [a["id"]]
    assert response["x-not-found"] == ghost
    # No events yet: nothing to report as last updated.
    assert "x-last-updated" not in response


def test_none_found_is_404(api, carrier):
    response = api.post("/track", {"ids": [str(uuid.uuid4())]}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Shipment not found."}


def test_another_customers_shipments_count_as_not_found(api, globex_api, carrier):
    mine = register(api, "A1", uuid_ref="ref-1")
    theirs = register(globex_api, "A1", uuid_ref="ref-1")
    both = api.post("/track", {"ids": [theirs["id"], mine["id"]]}, format="json")
    assert ids_of(both) == [mine["id"]] and both["x-not-found"] == theirs["id"]
    only_theirs = api.post("/track", {"ids": [theirs["id"]]}, format="json")
    assert (only_theirs.status_code, only_theirs.json()) == (404, {"detail": "Shipment not found."})
    # By reference or number, each customer sees only their own.
    assert ids_of(globex_api.post("/track", {"uuid_refs": ["ref-1"]}, format="json")) == [theirs["id"]]
    assert ids_of(api.post("/track", {"carrier_tracking_ids": ["A1"]}, format="json")) == [mine["id"]]


def test_uuid_refs_and_carrier_tracking_ids(api, carrier):
    a = register(api, "A1", uuid_ref="order, #1")
    b = register(api, "B1")
    c = register(api, "C1", uuid_ref="order-3")
    response = api.post(
        "/track",
        {"ids": [c["id"]], "uuid_refs": ["order, #1", "nope ü"], "carrier_tracking_ids": ["B1", "A1", "ZZ"]},
        format="json",
    )
    assert response.status_code == 200
    # ids first, then uuid_refs, then tracking ids; a shipment appears once.
    assert ids_of(response) == [c["id"], a["id"], b["id"]]
    assert [unquote(v) for v in response["x-not-found"].split(",")] == ["nope ü", "ZZ"]


def test_one_hundred_is_fine_and_one_more_is_422(api, carrier):
    register(api, "A1")
    hundred = [str(uuid.uuid4()) for _ in range(99)]
    ok = api.post("/track", {"ids": hundred, "carrier_tracking_ids": ["A1"]}, format="json")
    assert ok.status_code == 200 and len(ok.json()) == 1
    assert len(ok["x-not-found"].split(",")) == 99
    too_many = api.post("/track", {"ids": hundred, "uuid_refs": ["a"], "carrier_tracking_ids": ["A1"]}, format="json")
    assert too_many.status_code == 422
    assert error_text(too_many.json()).startswith("ids: At most 100")


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({}, "ids: Send at least one"),
        ({"ids": []}, "ids: Send at least one"),
        ({"ids": "6f1c1b6e-3b7a-4a53-9d2e-5b8b3f1f2a10"}, "ids: Expected a list"),
        ({"ids": ["not-a-uuid"]}, "ids.0: Must be a valid UUID."),
        ({"ids": [str(uuid.uuid4()), 7]}, "ids.1: Must be a valid UUID."),
        ({"uuid_refs": [1]}, "uuid_refs.0: Must be a string."),
        ({"carrier_tracking_ids": [""]}, "carrier_tracking_ids.0:"),
        ([], "Invalid data"),
    ],
)
def test_bad_requests_are_422_naming_the_field(api, carrier, payload, detail):
    response = api.post("/track", payload, format="json")
    assert response.status_code == 422, response.content
    assert error_text(response.json()).startswith(detail)


def test_malformed_json_is_400(api):
    response = api.post("/track", data="{ids: [}", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def _register_many(customer, count: int) -> list[str]:
    from tracking.services import ParcelInput, shipment_register

    ids = []
    for i in range(count):
        shipment, _ = shipment_register(
            customer=customer,
            carrier_id="acme-post",
            carrier_tracking_id=f"N{i}",
            parcels=[ParcelInput(carrier_tracking_id=f"N{i}-P{j}") for j in range(2)],
        )
        ids.append(str(shipment.pk))
    events = []
    for i in range(count):
        events += [
            event(tracking_id=f"N{i}", minutes=1),
            event(tracking_id=f"N{i}-P0", code="OFD", minutes=2, condition="damaged"),
        ]
    record("acme-post", *events)
    return ids


def test_constant_number_of_queries_for_1_and_100_ids(api, acme, carrier, django_assert_max_num_queries):
    ids = _register_many(acme, 100)
    api.post("/track", {"ids": ids[:1]}, format="json")  # warm the taxonomy cache like any running process
    with django_assert_max_num_queries(8) as one:
        response = api.post("/track", {"ids": ids[:1]}, format="json")
    assert response.status_code == 200 and len(response.json()) == 1
    with django_assert_max_num_queries(8) as hundred:
        response = api.post("/track", {"ids": ids}, format="json")
    assert response.status_code == 200 and len(response.json()) == 100
    assert len(hundred.captured_queries) == len(one.captured_queries)
    conditions = {p["carrier_tracking_id"]: p["condition"] for s in response.json() for p in s["parcels"]}
    assert conditions["N7-P0"] == "damaged" and conditions["N7-P1"] == "unknown"


def test_single_track_loads_shipment_parcels_and_events_in_one_query(
    api, acme, globex, carrier, postgres_only, django_assert_num_queries
):
    master = register(
        api,
        "M9",
        tracking_level="parcel",
        meta_data=[{"key": "k", "value": "v"}],
        parcels=[
            {"carrier_tracking_id": "P2", "meta_data": [{"key": "x", "value": "y"}]},
            {"carrier_tracking_id": "P1"},
        ],
    )
    record("acme-post", event(tracking_id="M9", code="PCK"), event(tracking_id="P1", code="HUB", minutes=3))
    shipment_for_customer(customer=acme, shipment_id=master["id"])  # prepares the statement on this connection
    with django_assert_num_queries(1):
        result = shipment_for_customer(customer=acme, shipment_id=master["id"])
    assert result is not None
    shipment = result.shipments[0]
    assert str(shipment.pk) == master["id"] and shipment.meta_data == [{"key": "k", "value": "v"}]
    parcels = result.parcels[shipment.pk]
    assert [p.carrier_tracking_id for p in parcels] == ["P1", "P2"]
    assert parcels[1].meta_data == [{"key": "x", "value": "y"}]
    # Events come as their stored JSON, one history per tracked item (P2 has none).
    assert result.events_by_item == {}
    codes = {
        item: [e["codes"]["carrier"]["code"] for e in orjson.loads(f"[{history.events_json}]")]
        for item, history in result.rendered.items()
    }
    assert codes == {
        shipment.tracked_item_id: ["PCK"],
        parcels[0].tracked_item_id: ["HUB"],
        parcels[1].tracked_item_id: [],
    }
    assert shipment_for_customer(customer=globex, shipment_id=master["id"]) is None


def test_a_parcel_under_the_shipments_own_number_shares_its_events_once(api, carrier):
    master = register(
        api, "M7", tracking_level="parcel", parcels=[{"carrier_tracking_id": "M7"}, {"carrier_tracking_id": "Q7"}]
    )
    record("acme-post", event(tracking_id="M7", code="PCK"), event(tracking_id="M7", code="HUB", minutes=2))
    single = api.get(f"/shipments/{master['id']}/track").json()
    batch = api.post("/track", {"ids": [master["id"]]}, format="json").json()[0]
    for body in (single, batch):
        codes = [e["codes"]["carrier"]["code"] for e in body["tracking_data"]["events"]]
        assert codes == ["PCK", "HUB"]
        parcels = {p["carrier_tracking_id"]: p["tracking_data"]["events"] for p in body["parcels"]}
        assert [e["codes"]["carrier"]["code"] for e in parcels["M7"]] == ["PCK", "HUB"] and parcels["Q7"] == []
    assert single == batch
