"""Responses: orjson renders the same JSON DRF did, and gzip is used when the client asks."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework.renderers import JSONRenderer

from tests.api.helpers import event, record, register
from tracking.api.renderers import ORJSONRenderer

pytestmark = pytest.mark.django_db


def test_a_track_answer_is_gzipped_when_asked_and_plain_otherwise(api, carrier):
    shipments = [register(api, f"GZ{n}") for n in range(20)]
    record("acme-post", *(event(tracking_id=f"GZ{n}", minutes=m) for n in range(20) for m in range(5)))
    body = {"ids": [s["id"] for s in shipments]}

    plain = api.post("/track", body, format="json")
    packed = api.post("/track", body, format="json", HTTP_ACCEPT_ENCODING="gzip")

    assert "Content-Encoding" not in plain
    assert packed["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed["Vary"]
    assert len(packed.content) < len(plain.content) / 3
    assert json.loads(gzip.decompress(packed.content)) == plain.json()
    assert len(plain.json()) == 20 and len(plain.json()[0]["tracking_data"]["events"]) == 5


def test_orjson_writes_what_drfs_encoder_wrote():
    data = {
        "at": datetime(2026, 11, 28, 13, 3, 0, 123456, tzinfo=UTC),
        "cost": Decimal("12.50"),
        "text": "Zürich – ✓",
        "none": None,
        "nested": [{"n": 1, "f": 0.5}],
    }
    ours = json.loads(ORJSONRenderer().render(data))
    assert ours == json.loads(JSONRenderer().render(data))
    assert ours["at"] == "2026-11-28T13:03:00.123456Z"
    assert ORJSONRenderer().render(None) == b""
