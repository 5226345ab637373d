"""Fuzz what arrives over HTTP: the inbound carrier webhook and the customer API.

Never a 5xx, never an unhandled exception: every answer is 2xx or 4xx, and a
4xx of the API is JSON ``{"detail": …}`` (docs/architecture.md, "Errors"). A webhook body the
view accepts (202) is also processed, which must end with the message
processed or failed — not with an exception that would have the task retry a
payload that can never succeed.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from carriers.models import InboundMessage, InboundStatus
from carriers.services import inbound_message_process
from tests.carriers.adapter_cases import fixtures_dir
from tests.factories import make_carrier, make_customer
from tests.fuzz.strategies import (
    FUZZ_DB,
    json_bytes,
    json_values,
    label,
    mutated_json,
    stretched_json,
    text,
)
from tracking.services import shipment_register

pytestmark = [pytest.mark.django_db, pytest.mark.slow]  # Hypothesis fuzzing

GENERIC = json.loads((fixtures_dir("generic_json") / "journey.json").read_text())
UPS_ALERT = json.loads((fixtures_dir("ups") / "track_alert_out_for_delivery.json").read_text())


@pytest.fixture(autouse=True)
def no_throttle_and_private_cache(settings, monkeypatch):
    from tracking.api.auth import APIKeyRateThrottle

    monkeypatch.setattr(APIKeyRateThrottle, "THROTTLE_RATES", {"api_key": "1000000/min"})
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fuzz"}}


def webhook_bodies(doc: Any) -> st.SearchStrategy[bytes]:
    return (
        mutated_json(doc).map(json_bytes)
        | stretched_json(doc).map(json_bytes)
        | json_values.map(json_bytes)
        | st.binary(max_size=300)
    )


def assert_never_5xx(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what} answered {response.status_code}: {response.content[:500]!r}"
    label(f"{what} {response.status_code}")


def signed(secret: str, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers, as a carrier signs; bytes that are not UTF-8 get a signature that cannot match."""
    now = datetime.now(UTC)
    msg_id = f"msg_{uuid.uuid4().hex}"
    signature = Webhook(secret).sign(msg_id, now, body.decode("utf-8", errors="replace"))
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}


def process_what_was_accepted(response: Any) -> None:
    if response.status_code != 202:
        return
    message_id = response.json()["id"]
    # Processing must end in a state, not raise: an exception would retry a hopeless payload.
    outcome = inbound_message_process(message_id=message_id)
    assert outcome.status in (InboundStatus.PROCESSED, InboundStatus.FAILED), outcome
    assert InboundMessage.objects.get(pk=message_id).status == outcome.status
    label(f"processed: {outcome.status}")


def test_generic_json_webhook_never_fails_on_its_input():
    carrier = make_carrier()
    client = Client(raise_request_exception=True)

    @FUZZ_DB
    @given(
        body=webhook_bodies(GENERIC),
        signing=st.sampled_from(["good", "good", "good", "wrong", "none", "mangled"]),
        content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]),
    )
    def fuzz(body: bytes, signing: str, content_type: str) -> None:
        headers = {
            "good": lambda: signed(carrier.webhook_secret, body),
            "wrong": lambda: signed("whsec_" + "A" * 43 + "=", body),
            "none": dict,
            "mangled": lambda: {k: v[::-1] for k, v in signed(carrier.webhook_secret, body).items()},
        }[signing]()
        response = client.post(f"/carriers/{carrier.pk}/webhook", data=body, content_type=content_type, headers=headers)
        assert_never_5xx(response, "webhook")
        assert response["content-type"].startswith("application/json")
        process_what_was_accepted(response)

    fuzz()


def test_ups_track_alert_webhook_never_fails_on_its_input():
    carrier = make_carrier("ups", adapter="ups", base_url="https://ups.test", client_id="c", client_secret="s")
    client = Client(raise_request_exception=True)

    @FUZZ_DB
    @given(body=webhook_bodies(UPS_ALERT), credential=st.sampled_from(["good", "good", "bad", "none"]))
    def fuzz(body: bytes, credential: str) -> None:
        headers = {"good": {"credential": carrier.webhook_secret}, "bad": {"credential": "nope"}, "none": {}}[
            credential
        ]
        response = client.post(
            f"/carriers/{carrier.pk}/webhook", data=body, content_type="application/json", headers=headers
        )
        assert_never_5xx(response, "ups webhook")
        process_what_was_accepted(response)

    fuzz()


@FUZZ_DB
@given(carrier_id=text, method=st.sampled_from(["get", "put", "delete", "patch", "head", "options"]))
def test_webhook_route_with_any_carrier_id_or_method_is_a_4xx(carrier_id: str, method: str) -> None:
    response = getattr(Client(), method)(f"/carriers/{quote(carrier_id, safe='')}/webhook")
    assert_never_5xx(response, "webhook route")


# --- The customer API -----------------------------------------------------------------------------


@pytest.fixture
def api_world(db):
    carrier = make_carrier()
    acme, key = make_customer("acme")
    globex, _ = make_customer("globex")
    shipment, _ = shipment_register(
        customer=acme, carrier_id=carrier.pk, carrier_tracking_id="JD0002234001100086", uuid_ref="order-1"
    )
    return {"acme": acme, "key": key, "globex": globex, "shipment": shipment}


def api_client(key: str, version: str = "v1") -> Client:
    return Client(headers={"x-key": key, "x-version": version}, raise_request_exception=True)


def assert_api_answer(response: Any, what: str) -> None:
    assert_never_5xx(response, what)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and body.get("detail"), (what, body)
        if response.status_code == 422:  # FastAPI's shape: every problem with loc, msg and type
            assert all({"loc", "msg", "type"} <= set(p) and p["msg"] for p in body["detail"]), (what, body)
        else:
            assert isinstance(body["detail"], str), (what, body)


def mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Three times in four a plausible value, so the request gets past the first check."""
    return st.one_of(good, good, good, json_values)


shipment_like = st.fixed_dictionaries(
    {
        "carrier_id": mostly(st.sampled_from(["acme-post", "nope"])),
        "carrier_tracking_id": mostly(st.text(min_size=1, max_size=70) | st.sampled_from(["JD0002234001100086"])),
    },
    optional={
        "uuid_ref": mostly(st.text(max_size=110)),
        "tracking_level": mostly(st.sampled_from(["shipment", "parcel"])),
        "references": json_values
        | st.fixed_dictionaries({}, optional={"shipper": json_values, "receiver": json_values}),
        "meta_data": json_values
        | st.lists(st.fixed_dictionaries({"key": json_values, "value": json_values}), max_size=25),
        "parcels": json_values
        | st.lists(
            st.fixed_dictionaries({"carrier_tracking_id": json_values}, optional={"uuid_ref": json_values}), max_size=4
        ),
    },
)
id_values = st.uuids().map(str) | text | json_values
track_like = st.fixed_dictionaries(
    {},
    optional={
        "ids": st.lists(id_values, max_size=120) | json_values,
        "uuid_refs": st.lists(id_values, max_size=5) | json_values,
        "carrier_tracking_ids": st.lists(id_values, max_size=5) | json_values,
    },
)


def test_register_shipment_with_any_body_is_a_2xx_or_a_json_4xx(api_world):
    client = api_client(api_world["key"])

    @FUZZ_DB
    @given(body=shipment_like.map(json_bytes) | json_values.map(json_bytes) | st.binary(max_size=100))
    def fuzz(body: bytes) -> None:
        response = client.post("/shipments", data=body, content_type="application/json")
        assert_api_answer(response, "POST /shipments")

    fuzz()


def test_batch_track_with_any_body_is_a_2xx_or_a_json_4xx(api_world):
    client = api_client(api_world["key"])
    own = str(api_world["shipment"].id)

    @FUZZ_DB
    @given(body=track_like | st.just({"ids": [own]}), extra=json_values)
    def fuzz(body: Any, extra: Any) -> None:
        if isinstance(body, dict) and isinstance(body.get("ids"), list) and len(body["ids"]) < 100:
            body = {**body, "ids": [*body["ids"], own]}
        response = client.post("/track", data=json_bytes(body), content_type="application/json")
        assert_api_answer(response, "POST /track")
        response = client.post("/track", data=json_bytes(extra), content_type="application/json")
        assert_api_answer(response, "POST /track")

    fuzz()


def test_feed_and_track_one_with_any_parameters_are_2xx_or_json_4xx(api_world):
    client = api_client(api_world["key"])

    @FUZZ_DB
    @given(
        after=text | st.sampled_from(["YzE6MS4x", "YzE6LTEuMQ", "YzE6OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTkuMQ", "====="]),
        limit=text | st.integers(-10, 10**20).map(str),
        shipment_id=text | st.uuids().map(str),
    )
    def fuzz(after: str, limit: str, shipment_id: str) -> None:
        response = client.get("/events", {"after": after, "limit": limit})
        assert_api_answer(response, "GET /events")
        response = client.get("/events", {"limit": limit})
        assert_api_answer(response, "GET /events")
        response = client.get(f"/shipments/{quote(shipment_id, safe='')}/track")
        assert_api_answer(response, "GET /shipments/{id}/track")

    fuzz()


def test_webhook_subscriptions_with_any_input_are_2xx_or_json_4xx(api_world, monkeypatch):
    from gluey import http as gluey_http

    # Random host names must not reach a real resolver: they all "resolve" to a documentation address.
    monkeypatch.setattr(gluey_http, "_resolve", lambda host, port: [(2, ("192.0.2.10", port))])
    client = api_client(api_world["key"])
    account = api_world["acme"].account_number
    other = api_world["globex"].account_number

    endpoint = (
        st.sampled_from(
            [
                "https://hooks.example.com/x",
                "http://93.184.215.14/x",
                "http://127.0.0.1/x",
                "ftp://x",
                "https://",
                "http:///x",
                "https://user:pw@example.com",
                "https://example.com:99999/x",
                "https://[::1]/x",
                "https://ex ample.com",
            ]
        )
        | text.map(lambda t: f"https://{t}")
        | json_values
    )

    @FUZZ_DB
    @given(
        account_number=st.one_of(*[st.just(account)] * 3, st.sampled_from([other, "00000000"]), text),
        endpoint=endpoint,
        since=text | json_values,
        until=text | json_values,
        method=st.sampled_from(["post", "get", "delete"]),
    )
    def fuzz(account_number: str, endpoint: Any, since: Any, until: Any, method: str) -> None:
        base = f"/accounts/{quote(account_number, safe='')}/webhooks/tracking"
        if method == "get":
            response = client.get(f"{base}/subscriptions", {"endpoint": json.dumps(endpoint)})
        else:
            response = getattr(client, method)(
                f"{base}/subscriptions", data=json_bytes({"endpoint": endpoint}), content_type="application/json"
            )
        assert_api_answer(response, f"{method.upper()} subscriptions")
        response = client.post(
            f"{base}/replay", data=json_bytes({"since": since, "until": until}), content_type="application/json"
        )
        assert_api_answer(response, "POST replay")

    fuzz()


@FUZZ_DB
@given(
    key=text | st.just("x.y"),
    version=text | st.sampled_from(["v1", "V1", "v2", ""]),
    path=st.sampled_from(["/shipments", "/track", "/events", f"/shipments/{uuid.UUID(int=7)}/track"]),
)
def test_any_key_and_version_headers_are_answered_with_a_json_4xx_or_2xx(key: str, version: str, path: str) -> None:
    try:
        client = Client(headers={"x-key": key, "x-version": version}, raise_request_exception=True)
        response = (
            client.post(path, data=b"{}", content_type="application/json")
            if path in ("/shipments", "/track")
            else client.get(path)
        )
    except ValueError as exc:
        # A header value Django's test client itself refuses to send (e.g. a newline).
        assert "header" in str(exc).lower() or "newline" in str(exc).lower()
        return
    assert_api_answer(response, f"{path} with odd headers")
    assert response.status_code in (400, 401, 404, 415, 422)
