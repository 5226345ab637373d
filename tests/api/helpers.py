"""Small helpers for API tests: register through the API, record carrier events."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from tests.factories import event
from tracking.services import events_record


def register(client: APIClient, carrier_tracking_id: str, carrier_id: str = "acme-post", **fields: Any) -> dict:
    response = client.post(
        "/shipments", {"carrier_id": carrier_id, "carrier_tracking_id": carrier_tracking_id, **fields}, format="json"
    )
    assert response.status_code in (200, 201), response.content
    return response.json()


def record(carrier_id: str = "acme-post", *events: Any) -> list:
    return events_record(carrier=carrier_id, events=list(events), channel="webhook").created


__all__ = ["event", "record", "register"]


def error_text(body: dict) -> str:
    """A 422 body's problems as "field.path: message" sentences (FastAPI shape: loc starts with body/query)."""
    assert isinstance(body["detail"], list), body
    return " ".join(
        ".".join(str(part) for part in p["loc"][1:]) + ": " + p["msg"] if len(p["loc"]) > 1 else p["msg"]
        for p in body["detail"]
    )
