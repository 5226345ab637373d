"""Public JSON shapes built from model rows — pure functions, no queries of their own.

The REST API, webhook bodies and CSV exports all use these, so a customer sees
one shape everywhere. Optional members are left out when empty; datetimes are
ISO 8601 strings with an offset.

- ``tracking_event_dict(event) -> dict`` — ``TrackingEvent``::

      {event_time: {created_utc, carrier_utc},
       codes: {gluey: {milestone, code, sub_code, freetext_detail},
               carrier: {code, sub_code?, freetext_detail?}},
       location: {carrier_location_coding?: {code, description?, type?},
                  address?: {name?, street?, postal_code?, city, state?, iso_country},
                  geo?: {lat, lng}},
       carrier_meta_data?: [{key, value}], eta?}

  ``created_utc`` is when Gluey recorded the event (UTC); ``carrier_utc`` is
  the carrier's time in the carrier's own offset. ``freetext_detail`` of the
  gluey code is the taxonomy description. In ``address`` an unknown ``city``
  or ``iso_country`` is null.

- ``webhook_event_dict(*, shipment, parcel, event) -> dict`` —
  ``TrackingWebhookEvent``: ``{shipment_id, shipment_uuid_ref (null when
  unset), shipment_meta_data, carrier_id, carrier_tracking_id,
  tracking_level, parcel?: {id, uuid_ref?, meta_data?, carrier_tracking_id},
  event}``. Pass ``parcel=None`` for an event of the shipment's own number.

- ``tracking_data_dict(events) -> dict`` — ``TrackingData``:
  ``{current_eta?, delivery_confirmation?, events}``, events oldest first by
  carrier time. ``delivery_confirmation`` appears once an event carries a
  ``signed_by``; ``photo_format`` is null because no photos are stored yet.

- ``batch_track_shipment_dict(shipment, parcels, events_by_item) -> dict`` —
  ``BatchTrackShipment`` (also ``TrackSingleShipment``). A parcel's
  ``condition`` is the milestone of its current state ("unknown" before any event).

- ``shipment_dict(shipment, parcels) -> dict`` — the registration as stored.

The gluey descriptions come from ``StatusCode`` (181 rows), read once per
process and re-read at most once a minute when an unknown triple appears.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from tracking.models import Parcel, Shipment, StatusCode, TrackedItem, TrackingEvent

UNKNOWN_CONDITION = "unknown"
_RELOAD_AFTER_SECONDS = 60.0

_descriptions: dict[tuple[str, str, str], str] = {}
_loaded_at = 0.0
_lock = threading.Lock()


def status_description(milestone: str, code: str, sub_code: str) -> str:
    """The taxonomy's one-line description of a gluey code ("" if unknown)."""
    global _loaded_at
    key = (milestone, code, sub_code)
    found = _descriptions.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _descriptions and time.monotonic() - _loaded_at > _RELOAD_AFTER_SECONDS:
            rows = StatusCode.objects.values_list("milestone", "code", "sub_code", "description")
            _descriptions.update({(m, c, s): d for m, c, s, d in rows})
            _loaded_at = time.monotonic()
    return _descriptions.get(key, "")


def clear_description_cache() -> None:
    global _loaded_at
    with _lock:
        _descriptions.clear()
        _loaded_at = 0.0


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def carrier_time(event: TrackingEvent) -> str:
    offset = timezone(timedelta(minutes=event.utc_offset_minutes))
    return event.occurred_at.astimezone(offset).isoformat()


def _location_dict(raw: Mapping[str, Any]) -> dict[str, Any]:
    location: dict[str, Any] = {}
    if raw.get("code"):
        coding = {"code": raw["code"]}
        if raw.get("description"):
            coding["description"] = raw["description"]
        if raw.get("code_type"):
            coding["type"] = raw["code_type"]
        location["carrier_location_coding"] = coding
    address_keys = ("name", "street", "postal_code", "city", "state", "iso_country")
    if any(raw.get(k) for k in address_keys):
        address: dict[str, Any] = {k: raw[k] for k in ("name", "street", "postal_code") if raw.get(k)}
        address["city"] = raw.get("city") or None
        if raw.get("state"):
            address["state"] = raw["state"]
        address["iso_country"] = raw.get("iso_country") or None
        location["address"] = address
    if raw.get("lat") is not None and raw.get("lng") is not None:
        location["geo"] = {"lat": raw["lat"], "lng": raw["lng"]}
    return location


def tracking_event_dict(event: TrackingEvent) -> dict[str, Any]:
    carrier: dict[str, Any] = {"code": event.carrier_code}
    if event.carrier_sub_code:
        carrier["sub_code"] = event.carrier_sub_code
    if event.carrier_text:
        carrier["freetext_detail"] = event.carrier_text
    body: dict[str, Any] = {
        "event_time": {"created_utc": utc_iso(event.recorded_at), "carrier_utc": carrier_time(event)},
        "codes": {
            "gluey": {
                "milestone": event.milestone,
                "code": event.code,
                "sub_code": event.sub_code,
                "freetext_detail": status_description(event.milestone, event.code, event.sub_code),
            },
            "carrier": carrier,
        },
        "location": _location_dict(event.location or {}),
    }
    if event.carrier_meta:
        body["carrier_meta_data"] = [{"key": str(m["key"]), "value": str(m["value"])} for m in event.carrier_meta]
    if event.eta is not None:
        body["eta"] = iso(event.eta)
    return body


def _parcel_ref(parcel: Parcel) -> dict[str, Any]:
    ref: dict[str, Any] = {"id": str(parcel.id)}
    if parcel.uuid_ref:
        ref["uuid_ref"] = parcel.uuid_ref
    if parcel.meta_data:
        ref["meta_data"] = parcel.meta_data
    ref["carrier_tracking_id"] = parcel.carrier_tracking_id
    return ref


def webhook_event_dict(*, shipment: Shipment, parcel: Parcel | None, event: TrackingEvent) -> dict[str, Any]:
    body: dict[str, Any] = {
        "shipment_id": str(shipment.id),
        "shipment_uuid_ref": shipment.uuid_ref or None,
        "shipment_meta_data": shipment.meta_data or [],
        "carrier_id": shipment.carrier_id,
        "carrier_tracking_id": shipment.carrier_tracking_id,
        "tracking_level": shipment.tracking_level,
    }
    if parcel is not None:
        body["parcel"] = _parcel_ref(parcel)
    body["event"] = tracking_event_dict(event)
    return body


def _carrier_order(event: TrackingEvent) -> tuple[datetime, int]:
    return (event.occurred_at, event.id)


def tracking_data_dict(events: Iterable[TrackingEvent]) -> dict[str, Any]:
    ordered = sorted(events, key=_carrier_order)
    data: dict[str, Any] = {}
    eta = next((e.eta for e in reversed(ordered) if e.eta is not None), None)
    if eta is not None:
        data["current_eta"] = iso(eta)
    signed = next((e for e in reversed(ordered) if e.signed_by), None)
    if signed is not None:
        data["delivery_confirmation"] = {"signed_by": signed.signed_by, "photo_format": None}
    data["events"] = [tracking_event_dict(e) for e in ordered]
    return data


def _references(shipment: Shipment) -> dict[str, str]:
    refs = {}
    if shipment.reference_shipper:
        refs["shipper"] = shipment.reference_shipper
    if shipment.reference_receiver:
        refs["receiver"] = shipment.reference_receiver
    return refs


def parcel_condition(item: TrackedItem | None) -> str:
    return (item.status_milestone if item is not None else "") or UNKNOWN_CONDITION


def batch_track_shipment_dict(
    shipment: Shipment,
    parcels: Sequence[Parcel],
    events_by_item: Mapping[int, Sequence[TrackingEvent]],
) -> dict[str, Any]:
    """``parcels`` need ``tracked_item`` loaded (select_related) for ``condition``."""
    body: dict[str, Any] = {"id": str(shipment.id)}
    if shipment.uuid_ref:
        body["uuid_ref"] = shipment.uuid_ref
    body["tracking_level"] = shipment.tracking_level
    body["references"] = _references(shipment)
    body["parcels"] = [
        {
            **_parcel_ref(parcel),
            "condition": parcel_condition(parcel.tracked_item),
            "tracking_data": tracking_data_dict(events_by_item.get(parcel.tracked_item_id, ())),
        }
        for parcel in parcels
    ]
    if shipment.tracking_level == "shipment":
        body["tracking_data"] = tracking_data_dict(events_by_item.get(shipment.tracked_item_id, ()))
    return body


def shipment_dict(shipment: Shipment, parcels: Sequence[Parcel]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": str(shipment.id)}
    if shipment.uuid_ref:
        body["uuid_ref"] = shipment.uuid_ref
    body.update(
        {
            "carrier_id": shipment.carrier_id,
            "carrier_tracking_id": shipment.carrier_tracking_id,
            "tracking_level": shipment.tracking_level,
            "references": _references(shipment),
            "meta_data": shipment.meta_data or [],
            "parcels": [_parcel_ref(p) for p in parcels],
            "created_at": utc_iso(shipment.created_at),
            # Our addition: registered without a carrier_id, the carrier recognised from the number.
            "carrier_detected": shipment.carrier_detected,
            "detected_format": shipment.detected_format or None,
        }
    )
    return body
