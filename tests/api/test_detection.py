"""Registering without a carrier_id, GET /carriers and /carriers/detect.

Personas: acme follows parcels of "ups-de" (UPS adapter), "fedex-us" (FedEx),
"dhl-de" (DHL) and "usps" (USPS); "acme-post" (generic_json) has its own
number pattern ACME + six digits.
"""

from __future__ import annotations

import pytest

from carriers.services import CarrierSetupError
from tests.api.helpers import error_text
from tests.factories import make_carrier
from tracking.models import Shipment

pytestmark = pytest.mark.django_db

UPS = "1Z999AA10123456784"
# A 20-digit SSCC: FedEx, DHL and USPS all issue 20-digit numbers checked by the same GS1 mod 10.
SSCC = "00340434161094015902"


@pytest.fixture
def carriers(db):
    make_carrier("ups-de", adapter="ups", name="UPS Germany")
    make_carrier("fedex-us", adapter="fedex")
    make_carrier("dhl-de", adapter="dhl")
    make_carrier("usps", adapter="usps")
    make_carrier("acme-post", number_pattern=r"ACME[0-9]{6}")


def test_register_without_carrier_id_uses_the_one_matching_carrier(api, carriers):
    response = api.post("/shipments", {"carrier_tracking_id": UPS}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["carrier_id"] == "ups-de"
    assert body["carrier_detected"] is True and body["detected_format"] == "ups_1z"
    assert Shipment.objects.get(pk=body["id"]).detected_format == "ups_1z"


def test_register_again_without_carrier_id_returns_the_same_shipment(api, carriers):
    first = api.post("/shipments", {"carrier_tracking_id": UPS}, format="json").json()
    again = api.post("/shipments", {"carrier_tracking_id": UPS}, format="json")
    assert again.status_code == 200 and again.json()["id"] == first["id"]


def test_a_named_carrier_is_not_marked_detected(api, carriers):
    body = api.post("/shipments", {"carrier_id": "ups-de", "carrier_tracking_id": UPS}, format="json").json()
    assert body["carrier_detected"] is False and body["detected_format"] is None


def test_ambiguous_number_answers_422_with_the_candidates(api, carriers):
    response = api.post("/shipments", {"carrier_tracking_id": SSCC}, format="json")
    assert response.status_code == 422
    body = response.json()
    assert "several carriers" in error_text(body) and error_text(body).startswith("carrier_id:")
    assert {c["carrier_id"] for c in body["candidates"]} == {"fedex-us", "dhl-de", "usps"}
    assert not Shipment.objects.exists()


def test_unknown_number_answers_422_listing_the_configured_carriers(api, carriers):
    response = api.post("/shipments", {"carrier_tracking_id": "1Z999AA10123456785"}, format="json")
    assert response.status_code == 422
    body = response.json()
    assert "no configured carrier" in error_text(body)
    assert body["candidates"] == []
    assert [c["carrier_id"] for c in body["configured_carriers"]] == [
        "acme-post",
        "dhl-de",
        "fedex-us",
        "ups-de",
        "usps",
    ]
    assert not Shipment.objects.exists()


def test_only_configured_and_enabled_carriers_are_candidates(api, carriers):
    from carriers.models import Carrier

    Carrier.objects.filter(pk="ups-de").update(enabled=False)
    response = api.post("/shipments", {"carrier_tracking_id": UPS}, format="json")
    assert response.status_code == 422
    assert "ups-de" not in {c["carrier_id"] for c in response.json()["configured_carriers"]}


def test_a_carriers_own_pattern_detects_its_numbers(api, carriers):
    response = api.post("/shipments", {"carrier_tracking_id": "ACME123456"}, format="json")
    assert response.status_code == 201
    assert response.json()["carrier_id"] == "acme-post"
    assert response.json()["detected_format"] == "pattern"


def test_detect_answers_candidates_with_confidence(api, carriers):
    response = api.post("/carriers/detect", {"tracking_id": SSCC}, format="json")
    assert response.status_code == 200
    candidates = response.json()["candidates"]
    assert {(c["carrier_id"], c["format"]) for c in candidates} == {
        ("fedex-us", "fedex_sscc_20"),
        ("dhl-de", "dhl_paket_20"),
        ("usps", "usps_20"),
    }
    assert all(0 < c["confidence"] <= 1 for c in candidates)


def test_detect_by_get(api, carriers):
    response = api.get("/carriers/detect", {"tracking_id": "EE123456785US"})
    assert response.status_code == 200
    assert [(c["carrier_id"], c["format"]) for c in response.json()["candidates"]] == [("usps", "s10_us")]


def test_detect_without_a_number_is_422_naming_the_field(api, carriers):
    response = api.post("/carriers/detect", {}, format="json")
    assert response.status_code == 422
    assert error_text(response.json()).startswith("tracking_id:")
    response = api.post("/carriers/detect", {"tracking_id": 12}, format="json")
    assert response.status_code == 422


def test_carriers_lists_ids_names_and_formats(api, carriers):
    response = api.get("/carriers")
    assert response.status_code == 200
    listed = {c["carrier_id"]: c for c in response.json()["carriers"]}
    assert set(listed) == {"acme-post", "dhl-de", "fedex-us", "ups-de", "usps"}
    assert listed["ups-de"]["name"] == "UPS Germany"
    assert listed["ups-de"]["number_formats"] == [{"id": "ups_1z", "name": "UPS 1Z"}]
    assert listed["acme-post"]["number_formats"] == []


def test_carrier_endpoints_need_a_key(client, carriers):
    assert client.get("/carriers", headers={"x-version": "v1"}).status_code == 401
    assert client.get("/carriers/detect?tracking_id=1", headers={"x-version": "v1"}).status_code == 401


def test_a_format_neutral_carrier_can_name_formats_in_its_config(api, db):
    make_carrier("royal-mail", number_formats=["s10"])
    response = api.get("/carriers/detect", {"tracking_id": "RB123456785GB"})
    assert [c["carrier_id"] for c in response.json()["candidates"]] == ["royal-mail"]


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"number_formats": ["nope"]}, "unknown format"),
        ({"number_formats": "s10"}, "list of format ids"),
        ({"number_pattern": "("}, "number_pattern"),
    ],
)
def test_bad_number_settings_are_refused_at_setup(db, config, problem):
    with pytest.raises(CarrierSetupError, match=problem):
        make_carrier("bad", **config)
