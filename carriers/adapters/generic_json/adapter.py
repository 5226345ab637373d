"""Gluey's own JSON format for carriers that integrate with us directly (docs/architecture.md, "Inbound carrier webhooks")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from carriers.adapters.base import Adapter, CarrierError
from carriers.adapters.common import load_json
from tracking.types import CarrierEvent, Location, ParcelCondition

_LOCATION_KEYS = {"city", "postal_code", "iso_country", "state", "street", "name", "code", "code_type", "description"}


def _text(value: Any, index: int, field: str, *, required: bool = False, limit: int = 1000) -> str:
    # The field's name is only formatted on error: this runs ~10 times per event, on every webhook.
    if value.__class__ is str and len(value) <= limit and (not required or value.strip()):
        return value
    where = f"events[{index}].{field}"
    if value is None:
        if required:
            raise CarrierError(f"{where} is required", permanent=True)
        return ""
    if not isinstance(value, str):
        raise CarrierError(f"{where} must be a string", permanent=True)
    if required and not value.strip():
        raise CarrierError(f"{where} must not be empty", permanent=True)
    if len(value) > limit:
        raise CarrierError(f"{where} is longer than {limit} characters", permanent=True)
    return value


_CONDITIONS = frozenset(c.value for c in ParcelCondition)


def _number(value: Any, index: int, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise CarrierError(f"events[{index}].{field} must be a number of 0 or more", permanent=True)
    return float(value)


def _when(value: Any, index: int, field: str) -> datetime:
    text = _text(value, index, field, required=True, limit=64)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise CarrierError(f"events[{index}].{field} is not an ISO 8601 datetime", permanent=True) from None
    if parsed.utcoffset() is None:
        raise CarrierError(f"events[{index}].{field} must include a UTC offset", permanent=True)
    return parsed


class GenericJsonAdapter(Adapter):
    # Pushed to our webhook, or dropped as .json files on an sFTP server.
    channels = frozenset({"webhook", "sftp"})

    def parse(self, payload: bytes) -> list[CarrierEvent]:
        data = load_json(payload, "body")
        if not isinstance(data, dict) or not isinstance(data.get("events"), list):
            raise CarrierError("body must be an object with an 'events' list", permanent=True)
        events = []
        for index, raw in enumerate(data["events"]):
            if not isinstance(raw, dict):
                raise CarrierError(f"events[{index}] must be an object", permanent=True)
            location = raw.get("location") or {}
            if not isinstance(location, dict):
                raise CarrierError(f"events[{index}].location must be an object", permanent=True)
            loc: dict[str, Any] = {
                k: _text(v, index, f"location.{k}", limit=200) for k, v in location.items() if k in _LOCATION_KEYS
            }
            eta = _when(raw["eta"], index, "eta") if raw.get("eta") else None
            condition = _text(raw.get("condition"), index, "condition", limit=16)
            if condition and condition not in _CONDITIONS:
                raise CarrierError(
                    f"events[{index}].condition must be one of {', '.join(sorted(_CONDITIONS))}", permanent=True
                )
            events.append(
                CarrierEvent(
                    tracking_id=_text(raw.get("tracking_id"), index, "tracking_id", required=True, limit=64),
                    code=_text(raw.get("code"), index, "code", required=True, limit=64),
                    sub_code=_text(raw.get("sub_code"), index, "sub_code", limit=64),
                    description=_text(raw.get("description"), index, "description"),
                    occurred_at=_when(raw.get("occurred_at"), index, "occurred_at"),
                    location=Location(**loc),
                    eta=eta,
                    signed_by=_text(raw.get("signed_by"), index, "signed_by", limit=200),
                    # Gluey's OtherUpdates, and a re-label (a new number for the same parcel).
                    condition=condition,
                    shipping_cost=_number(raw.get("shipping_cost"), index, "shipping_cost"),
                    shipping_cost_currency=_text(
                        raw.get("shipping_cost_currency"), index, "shipping_cost_currency", limit=3
                    ),
                    co2_footprint_kg=_number(raw.get("co2_footprint_kg"), index, "co2_footprint_kg"),
                    new_tracking_id=_text(raw.get("new_tracking_id"), index, "new_tracking_id", limit=64),
                    new_tracking_url=_text(raw.get("new_tracking_url"), index, "new_tracking_url", limit=500),
                )
            )
        return events
