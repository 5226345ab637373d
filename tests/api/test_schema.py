"""OpenAPI: the schema is public and valid, the docs render offline, real responses match it."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.staticfiles import finders
from openapi_spec_validator import validate as validate_spec

from tests.api.helpers import event, record, register
from tests.contract.checks import check_ours
from tests.factories import T0
from tracking.types import CarrierEvent, Location

pytestmark = pytest.mark.django_db


@pytest.fixture
def spec(client):
    response = client.get("/api/schema", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def assert_matches(spec: dict, name: str, instance: object) -> None:
    check_ours(name, instance)


def test_schema_is_public_and_valid_openapi_3_1_with_the_webhook(spec):
    validate_spec(spec)
    assert spec["openapi"] == "3.1.0"
    assert {"/shipments", "/shipments/{id}/track", "/track", "/events"} <= set(spec["paths"])
    track = spec["paths"]["/shipments/{id}/track"]["get"]
    assert [p["name"] for p in track["parameters"] if p["in"] == "path"] == ["id"]
    assert "204" in track["responses"] and "content" not in track["responses"]["204"]
    webhook = spec["webhooks"]["tracking"]["post"]
    body = webhook["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"type": "array", "items": {"$ref": "#/components/schemas/TrackingWebhookEvent"}}


def test_enums_are_typed(spec):
    from tracking.taxonomy import taxonomy_rows

    schemas = spec["components"]["schemas"]
    rows = taxonomy_rows()
    assert set(schemas["GlueyMilestone"]["enum"]) == {r["milestone"] for r in rows}
    assert set(schemas["GlueyCode"]["enum"]) == {r["code"] for r in rows}
    assert set(schemas["GlueySubCode"]["enum"]) == {r["sub_code"] for r in rows}
    assert schemas["ParcelCondition"]["enum"] == ["good", "damaged", "unknown"]
    assert "sorting_facility" in schemas["LocationType"]["enum"] and "other" in schemas["LocationType"]["enum"]
    gluey = schemas["GlueyEventCodeDetail"]["properties"]
    assert gluey["milestone"] == {"$ref": "#/components/schemas/GlueyMilestone"}
    condition = schemas["TrackingEventParcel"]["properties"]["condition"]
    assert condition["allOf"][0] == {"$ref": "#/components/schemas/ParcelCondition"} or condition == {
        "$ref": "#/components/schemas/ParcelCondition"
    }


def test_schema_documents_key_version_and_errors(spec):
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-key",
        "description": "The API key printed once by `manage.py create_customer`.",
    }
    for path, method in [
        ("/shipments", "post"),
        ("/shipments/{id}/track", "get"),
        ("/track", "post"),
        ("/events", "get"),
    ]:
        operation = spec["paths"][path][method]
        assert {"ApiKey": []} in operation["security"]
        headers = [p for p in operation["parameters"] if p["in"] == "header"]
        assert headers[0]["name"] == "x-version" and headers[0]["required"] is True
        assert {"400", "401", "429"} <= set(operation["responses"])
    track = spec["paths"]["/track"]["post"]
    assert track["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TrackRequest"
    }
    assert track["responses"]["200"]["content"]["application/json"]["schema"]["items"] == {
        "$ref": "#/components/schemas/BatchTrackShipment"
    }
    assert set(track["responses"]["200"]["headers"]) == {"x-last-updated", "x-not-found"}
    for name in ("BatchTrackShipment", "TrackSingleShipment", "TrackingData", "TrackingEvent", "TrackingWebhookEvent"):
        assert name in spec["components"]["schemas"]


def test_docs_render_without_a_cdn(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


def test_real_responses_match_the_documented_shapes(api, carrier, spec):
    shipment = register(
        api,
        "T1",
        uuid_ref="order-1",
        references={"shipper": "S", "receiver": "R"},
        meta_data=[{"key": "k", "value": "v"}],
        parcels=[{"carrier_tracking_id": "P1", "uuid_ref": "box", "meta_data": [{"key": "sku", "value": "1"}]}],
    )
    assert_matches(spec, "Shipment", shipment)
    record(
        "acme-post",
        CarrierEvent(
            tracking_id="T1",
            code="DLV",
            sub_code="NB",
            occurred_at=T0,
            description="Delivered",
            location=Location(
                city="Leeds",
                iso_country="GB",
                code="LDS",
                code_type="depot",
                description="Leeds",
                lat=53.8,
                lng=-1.5,
                name="n",
                street="s",
                postal_code="LS1",
                state="WY",
            ),
            eta=T0,
            signed_by="J",
            meta=(("a", "b"),),
        ),
        event(tracking_id="P1", code="ZZZ", city=""),
    )
    one = api.get(f"/shipments/{shipment['id']}/track").json()
    assert_matches(spec, "TrackSingleShipment", one)
    batch = api.post("/track", {"ids": [shipment["id"]]}, format="json").json()
    for item in batch:
        assert_matches(spec, "BatchTrackShipment", item)
    feed = api.get("/events").json()
    assert len(feed["events"]) == 2
    assert_matches(spec, "EventFeed", feed)
    error = api.post("/track", {"ids": ["x"]}, format="json").json()
    assert_matches(spec, "HTTPValidationError", error)
    missing = api.post("/track", {"ids": [str(uuid.uuid4())]}, format="json").json()
    assert_matches(spec, "Error", missing)


def test_strict_check_catches_an_undocumented_field(spec):
    from tests.contract.checks import ContractViolation

    with pytest.raises(ContractViolation, match="surprise"):
        assert_matches(spec, "Error", {"detail": "x", "surprise": 1})


def test_django_level_errors_are_json_for_api_paths_only(rf):
    from tracking.api.exceptions import page_not_found, server_error

    for handler, args, status in [(page_not_found, (None,), 404), (server_error, (), 500)]:
        api = handler(rf.get("/track"), *args)
        assert api.status_code == status and api["Content-Type"] == "application/json"
        admin = handler(rf.get("/admin/nowhere"), *args)
        assert admin.status_code == status and admin["Content-Type"].startswith("text/html")
