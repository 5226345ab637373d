"""The one place the EDI library meets the rest of Gluey.

Public API::

    to_carrier_event(event: StatusEvent) -> tracking.types.CarrierEvent
    to_carrier_events(events: Iterable[StatusEvent]) -> list[CarrierEvent]
    status_event_from_dict(data: Mapping) -> StatusEvent
    status_events_from_dicts(rows: Iterable[Mapping]) -> list[StatusEvent]

``tracking.types`` is imported inside the functions, so importing ``edi``
never pulls in the rest of the project.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from edi.errors import EdiError
from edi.model import Location, StatusEvent

if TYPE_CHECKING:
    from tracking.types import CarrierEvent


def to_carrier_event(event: StatusEvent) -> CarrierEvent:
    from tracking.types import CarrierEvent
    from tracking.types import Location as TrackingLocation

    loc = event.location
    meta: list[tuple[str, str]] = []
    if event.scac:
        meta.append(("scac", event.scac))
    if event.shipper_id:
        meta.append(("shipper_id", event.shipper_id))
    meta.extend((f"ref_{q}" if q else "ref", v) for q, v in event.references if v)
    if event.quantity is not None:
        meta.append(("quantity", str(event.quantity)))
    # Where the time's zone came from (explicit, location or partner_default).
    meta.append(("zone_source", event.zone_source))
    meta.extend((k, v) for k, v in event.meta)
    return CarrierEvent(
        tracking_id=event.tracking_id,
        code=event.carrier_code,
        occurred_at=event.occurred_at,
        sub_code=event.carrier_sub_code,
        description=event.description,
        location=TrackingLocation(city=loc.city, postal_code=loc.postal_code, iso_country=loc.iso_country,
                                  state=loc.state, name=loc.name, code=loc.code,
                                  code_type="UNLOCODE" if _is_locode(loc.code, loc.iso_country) else ""),
        eta=event.eta,
        weight_kg=event.weight_kg(),
        meta=tuple(meta),
    )


def _is_locode(code: str, country: str) -> bool:
    return len(code) == 5 and code.isalnum() and bool(country) and code[:2].upper() == country


def to_carrier_events(events: Iterable[StatusEvent]) -> list[CarrierEvent]:
    return [to_carrier_event(e) for e in events]


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def status_event_from_dict(data: Mapping[str, Any]) -> StatusEvent:
    """A writer input from a plain dict (for exports built from JSON or rows).

    Keys: tracking_id, code (or carrier_code), sub_code (or carrier_sub_code),
    occurred_at (aware datetime or ISO 8601 string with offset), description,
    location {city, state, postal_code, iso_country, code, name}, references
    [[qualifier, value], ...], scac, shipper_id, weight_kg.
    """
    when = data.get("occurred_at")
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            raise EdiError(f"occurred_at {when!r} is not ISO 8601") from None
    if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
        raise EdiError("occurred_at must be a timezone-aware datetime")
    tracking = _text(data, "tracking_id")
    code = _text(data, "carrier_code") or _text(data, "code")
    if not tracking or not code:
        raise EdiError("tracking_id and code are required")
    place = data.get("location") or {}
    if not isinstance(place, Mapping):
        raise EdiError("location must be an object")
    refs = data.get("references") or ()
    try:
        references = tuple((str(q), str(v)) for q, v in refs)
    except (TypeError, ValueError):
        raise EdiError("references must be [qualifier, value] pairs") from None
    weight = data.get("weight_kg")
    if weight is not None:
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise EdiError(f"weight_kg {weight!r} is not a number") from None
    return StatusEvent(
        tracking_id=tracking, carrier_code=code, occurred_at=when,
        carrier_sub_code=_text(data, "carrier_sub_code") or _text(data, "sub_code"),
        description=_text(data, "description"),
        location=Location(city=_text(place, "city"), state=_text(place, "state"),
                          postal_code=_text(place, "postal_code"), iso_country=_text(place, "iso_country"),
                          code=_text(place, "code"), name=_text(place, "name")),
        references=references, scac=_text(data, "scac"), shipper_id=_text(data, "shipper_id"),
        weight=weight, weight_unit="K" if weight is not None else "",
    )


def status_events_from_dicts(rows: Iterable[Mapping[str, Any]]) -> list[StatusEvent]:
    return [status_event_from_dict(r) for r in rows]
