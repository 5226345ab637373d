"""The lean path of the two hot reads (tracking/api/hot.py) answers exactly as DRF's handlers do.

Each request is made twice: once as it comes, once with the lean path switched
off so DRF's handler answers; status, headers (but the request id) and body
must be the same. Requests the lean path must leave to DRF are checked to
reach it, and the rate limit counts every request once whichever path answers.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import client_for
from tracking.api import hot
from tracking.api.throttle import APIKeyRateThrottle

pytestmark = pytest.mark.django_db


def _answer(response) -> tuple[int, dict[str, str], bytes]:
    headers = {k.lower(): v for k, v in response.items() if k.lower() != "x-request-id"}
    return response.status_code, headers, response.content


def both_ways(monkeypatch, call) -> tuple[tuple, tuple]:
    """(lean answer, DRF answer) of the same request; the lean one must not have gone to DRF."""
    with monkeypatch.context() as m:
        m.setattr("tracking.api.views.CustomerAPIView.dispatch", lambda *a, **k: pytest.fail("went to DRF"))
        lean = _answer(call())
    with monkeypatch.context() as m:
        m.setattr(hot, "track_one", lambda *a, **k: None)
        m.setattr(hot, "track_batch", lambda *a, **k: None)
        drf = _answer(call())
    return lean, drf


@pytest.mark.parametrize("name", ["master", "rich", "empty", "missing", "not-a-uuid"])
def test_single_read_is_the_same_either_way(api, shipments, monkeypatch, name):
    shipment_id = shipments.get(name, str(uuid.uuid4()) if name == "missing" else name)
    lean, drf = both_ways(monkeypatch, lambda: api.get(f"/shipments/{shipment_id}/track"))
    assert lean == drf
    assert lean[0] == {"master": 200, "rich": 200, "empty": 204}.get(name, 404)


@pytest.mark.parametrize(
    "body",
    [
        {"ids": ["master", "rich", "empty"]},
        {"ids": ["missing", "rich"], "uuid_refs": ["order-1", "nope"], "carrier_tracking_ids": ["E1", "ZZ 9"]},
        {"ids": ["missing"]},
        {"carrier_tracking_ids": ["R1"], "unknown_field": 1},
    ],
)
def test_batch_read_is_the_same_either_way(api, shipments, monkeypatch, body):
    ids = [shipments.get(i, "6f1c1b6e-3b7a-4a53-9d2e-5b8b3f1f2a10") for i in body.get("ids", [])]
    payload = {**body, "ids": ids} if "ids" in body else body
    lean, drf = both_ways(monkeypatch, lambda: api.post("/track", payload, format="json"))
    assert lean == drf
    assert lean[0] in (200, 404)


@pytest.mark.parametrize(
    ("request_kwargs", "status"),
    [
        ({"HTTP_ACCEPT": "text/html"}, 406),
        ({"HTTP_ACCEPT": "application/json; indent=4"}, 200),
        ({"QUERY_STRING": "format=xml"}, 404),
        ({"HTTP_X_VERSION": "v9"}, 400),
        ({"HTTP_X_KEY": "nope.nope"}, 401),
    ],
)
def test_unusual_single_reads_are_left_to_drf(api, shipments, monkeypatch, request_kwargs, status):
    monkeypatch.setattr(hot, "selectors", None)  # the lean path would fail if it went on
    response = api.get(f"/shipments/{shipments['rich']}/track", **request_kwargs)
    assert response.status_code == status


@pytest.mark.parametrize(
    ("payload", "content_type", "status"),
    [
        ('{"ids": [" 6f1c1b6e-3b7a-4a53-9d2e-5b8b3f1f2a10"]}', "application/json", 422),
        ('{"uuid_refs": [" order-1 "]}', "application/json", 200),
        ('{"ids": []}', "application/json", 422),
        ('{"ids": null}', "application/json", 422),
        ('{"ids": "x"}', "application/json", 422),
        ("[]", "application/json", 422),
        ("{ids: [}", "application/json", 400),
        ('{"ids": ["6f1c1b6e-3b7a-4a53-9d2e-5b8b3f1f2a10"]}', "text/plain", 415),
    ],
)
def test_unusual_batch_reads_are_left_to_drf(api, shipments, monkeypatch, payload, content_type, status):
    payload = payload.replace("6f1c1b6e-3b7a-4a53-9d2e-5b8b3f1f2a10", shipments["rich"])
    monkeypatch.setattr(hot, "selectors", None)
    response = api.post("/track", data=payload, content_type=content_type)
    assert response.status_code == status, response.content


def test_every_request_is_counted_once_whichever_path_answers(acme, shipments, monkeypatch):
    monkeypatch.setattr(APIKeyRateThrottle, "THROTTLE_RATES", {"api_key": "4/min"})
    api = client_for(acme.api_key)
    answers = [
        api.get(f"/shipments/{shipments['rich']}/track").status_code,  # lean
        api.post("/track", {"ids": []}, format="json").status_code,  # DRF: invalid
        api.post("/track", {"ids": [shipments["rich"]]}, format="json").status_code,  # lean
        api.get(f"/shipments/{shipments['empty']}/track").status_code,  # lean
        api.get(f"/shipments/{shipments['rich']}/track").status_code,  # lean: the fifth is refused
        api.post("/track", {"ids": []}, format="json").status_code,  # DRF: refused before validation
    ]
    assert answers == [200, 422, 200, 204, 429, 429]
    throttled = api.post("/track", {"ids": [shipments["rich"]]}, format="json")
    assert "throttled" in throttled.json()["detail"] and int(throttled["Retry-After"]) > 0


def test_lean_reads_take_one_query(api, shipments, postgres_only):
    """One shipment, or a batch, with its parcels and their histories in one statement (the rate
    counter and lane statistics aside), prepared once per connection."""

    def reads(call) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            assert call().status_code == 200
        return [q["sql"] for q in queries.captured_queries if "gluey_track_" in q["sql"]]

    single = lambda: api.get(f"/shipments/{shipments['master']}/track")
    batch = lambda: api.post("/track", {"ids": list(shipments.values())}, format="json")
    first = reads(single) + reads(batch)
    assert sum(sql.startswith("PREPARE") for sql in first) <= 2
    assert [sql.split()[:2] for sql in reads(single)] == [["EXECUTE", "gluey_track_one"]]
    assert [sql.split()[:2] for sql in reads(batch)] == [["EXECUTE", "gluey_track_ids"]]
    assert [s["carrier_tracking_id"] for s in batch().json()] == ["M1", "R1", "E1"]
