"""Gluey's own JSON format for carriers that integrate with us directly (DESIGN 4.4)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from carriers.adapters.base import Adapter, CarrierError
from tracking.types import CarrierEvent, Location

_LOCATION_KEYS = {"city", "postal_code", "iso_country", "state", "street", "name", "code", "code_type", "description"}


def _text(value: Any, where: str, *, required: bool = False, limit: int = 1000) -> str:
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


def _when(value: Any, where: str) -> datetime:
    text = _text(value, where, required=True, limit=64)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise CarrierError(f"{where} is not an ISO 8601 datetime", permanent=True) from None
    if parsed.utcoffset() is None:
        raise CarrierError(f"{where} must include a UTC offset", permanent=True)
    return parsed


class GenericJsonAdapter(Adapter):
    # Pushed to our webhook, or dropped as .json files on an sFTP server.
    channels = frozenset({"webhook", "sftp"})

    def parse(self, payload: bytes) -> list[CarrierEvent]:
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise CarrierError("body is not valid JSON", permanent=True) from None
        if not isinstance(data, dict) or not isinstance(data.get("events"), list):
            raise CarrierError("body must be an object with an 'events' list", permanent=True)
        events = []
        for index, raw in enumerate(data["events"]):
            where = f"events[{index}]"
            if not isinstance(raw, dict):
                raise CarrierError(f"{where} must be an object", permanent=True)
            location = raw.get("location") or {}
            if not isinstance(location, dict):
                raise CarrierError(f"{where}.location must be an object", permanent=True)
            loc = {k: _text(v, f"{where}.location.{k}", limit=200) for k, v in location.items() if k in _LOCATION_KEYS}
            eta = _when(raw["eta"], f"{where}.eta") if raw.get("eta") else None
            events.append(
                CarrierEvent(
                    tracking_id=_text(raw.get("tracking_id"), f"{where}.tracking_id", required=True, limit=64),
                    code=_text(raw.get("code"), f"{where}.code", required=True, limit=64),
                    sub_code=_text(raw.get("sub_code"), f"{where}.sub_code", limit=64),
                    description=_text(raw.get("description"), f"{where}.description"),
                    occurred_at=_when(raw.get("occurred_at"), f"{where}.occurred_at"),
                    location=Location(**loc),
                    eta=eta,
                    signed_by=_text(raw.get("signed_by"), f"{where}.signed_by", limit=200),
                )
            )
        return events
