"""Public JSON shapes built from model rows — pure functions, no queries of their own.

The REST API, webhook bodies and the event feed all use these, so a customer
sees one shape everywhere. The shapes are Gluey's published models, field for
field (the README's "Gluey compatibility" section lists the readings we took
where Gluey's docs disagree with themselves); optional members are left out
when the carrier gave nothing; datetimes are ISO 8601 strings with an offset.

- ``tracking_event_dict(event)`` — the track API's ``TrackingEvent``::

      {carrier_meta_data?: [{key, value}],
       event_time: {created_utc, carrier_utc},
       eta?,                                  # Gluey's track-API model has it here
       codes: {gluey: {milestone, code, sub_code, freetext_detail},
               carrier: {code, sub_code?, freetext_detail?}},
       location: {carrier_location_coding?: {code, description?, type},
                  address?: {type?, name, street?, postal_code?, city, state?, iso_country},
                  geo?: {lat, lng}},
       other?: OtherUpdates}

- ``webhook_tracking_event_dict(event)`` — the webhook's ``TrackingEvent``:
  the same without the top-level ``eta`` (Gluey's webhook model carries it
  in ``other.eta``).
- ``other_updates_dict(event)`` — ``OtherUpdates``: ``{condition?,
  carrier_weight_dims?{weight?{value, unit}, dimensions?{length, width?,
  height?, unit}}, eta?, shipping_cost?, shipping_cost_currency?,
  delivery_confirmation?{signed_by?, base64_photo?, photo_format},
  co2_footprint_kg?}``, each key only where the carrier gave it.
- ``webhook_event_dict(*, shipment, parcel, event, correction=False, predicted_delivery=None)`` —
  ``TrackingWebhookEvent``: ``{shipment_id, shipment_uuid_ref,
  shipment_meta_data, carrier_id, carrier_tracking_id,
  carrier_tracking_update?, tracking_level, parcel?, event, correction?}``.
  ``parcel`` (``TrackingEventParcel``: ``parcel_id, parcel_uuid_ref?,
  parcel_meta_data?, carrier_tracking_id, carrier_tracking_update?``) is sent
  only for ``tracking_level: parcel`` shipments. ``correction: true`` (our
  addition) marks an event delivered again because its codes were re-harmonised;
  ``event.other.predicted_delivery`` (our addition) is the delivery date
  learnt from our history while the shipment is on its way.
- ``tracking_data_dict(events, predicted_delivery=None)`` — ``TrackingData``: ``{current_eta?, predicted_delivery?,
  shipping_cost?, shipping_cost_currency?, delivery_confirmation?,
  co2_footprint_kg?, events}``, events oldest first by carrier time; each
  summary field is the latest value any event gave.
- ``batch_track_shipment_dict(shipment, parcels, events_by_item, *, single=False)``
  — ``BatchTrackShipment`` (``single``: ``TrackSingleShipment``, whose
  ``parcels`` is null unless the shipment is parcel-level).
- ``shipment_dict(shipment, parcels)`` — the registration as stored.

Where the representation reads the stored ``TrackingEvent.other`` (written by
``tracking.services.recording.event_other``): ``eta_offset_minutes``,
``condition``, ``dimensions_cm`` [l, w, h], ``shipping_cost``,
``shipping_cost_currency``, ``co2_footprint_kg``, ``photo_base64``,
``photo_format``, ``new_tracking_id``, ``new_tracking_url``.

An ETA is shown in the offset the carrier gave it, everywhere (webhook, track
API, feed); ``created_utc`` is always UTC and ``carrier_utc`` keeps the
carrier's offset. The gluey descriptions come from ``StatusCode`` (181 rows),
read once per process and re-read at most once a minute when an unknown triple
appears.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from tracking.models import Parcel, Shipment, StatusCode, TrackingEvent, TrackingLevel
from tracking.selectors import EventRow, ParcelRow, RenderedHistory, ShipmentRow, carrier_order
from tracking.types import ImageFormat, LocationType, ParcelCondition

_RELOAD_AFTER_SECONDS = 60.0

# What the functions below read: model instances (webhooks, feed) or the track views' plain rows.
Event = TrackingEvent | EventRow
ShipmentLike = Shipment | ShipmentRow
ParcelLike = Parcel | ParcelRow

# Gluey's model requires photo_format in a delivery confirmation even when no
# photo is attached; we then name the format a photo would have (see README).
DEFAULT_PHOTO_FORMAT = ImageFormat.JPEG.value

# The carrier's own kind of location code → Gluey's LocationType. Anything not
# listed is "other"; the carrier's kind itself travels in carrier_meta_data.
LOCATION_TYPE_BY_KIND: dict[str, str] = {
    "iata": LocationType.AIRPORT,
    "airport": LocationType.AIRPORT,
    "unlocode": LocationType.OTHER,
    "slic": LocationType.SORTING_FACILITY,  # a UPS building: hub or sort centre
    "hub": LocationType.SORTING_FACILITY,
    "sort_centre": LocationType.SORTING_FACILITY,
    "sorting_facility": LocationType.SORTING_FACILITY,
    "depot": LocationType.LOCAL_DEPOT,
    "delivery_unit": LocationType.LOCAL_DEPOT,
    "station": LocationType.LOCAL_DEPOT,
    "post_office": LocationType.POST_OFFICE,
    "servicepoint": LocationType.PUDO,
    "service_point": LocationType.PUDO,
    "parcelshop": LocationType.PUDO,
    "pudo": LocationType.PUDO,
    "locker": LocationType.PARCEL_LOCKER,
    "parcel_locker": LocationType.PARCEL_LOCKER,
    "customs": LocationType.CUSTOMS,
    "port": LocationType.PORT,
    "warehouse": LocationType.WAREHOUSE,
    "terminal": LocationType.FREIGHT_TERMINAL,
}
LOCATION_KIND_META_KEY = "location_code_type"

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
    if value.tzinfo is UTC:
        return value.isoformat()
    return value.astimezone(UTC).isoformat()


def utc_z(value: datetime) -> str:
    """UTC with a ``Z``, as Gluey's ``x-last-updated`` example: 2021-01-01T00:00:00Z."""
    # isoformat: a fifth of strftime's time, on every track answer's header.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


_zones: dict[int, timezone] = {0: UTC}


def _zone(minutes: int) -> timezone:
    """The fixed-offset zone of ``minutes`` east of UTC (one object per offset, per process)."""
    zone = _zones.get(minutes)
    if zone is None:
        zone = _zones.setdefault(minutes, timezone(timedelta(minutes=minutes)))
    return zone


def _in_zone(value: datetime, minutes: int) -> str:
    if minutes == 0 and value.tzinfo is UTC:
        return value.isoformat()
    return value.astimezone(_zone(minutes)).isoformat()


def carrier_time(event: Event) -> str:
    return _in_zone(event.occurred_at, event.utc_offset_minutes)


def eta_iso(event: Event) -> str | None:
    """The event's ETA in the offset the carrier gave it (UTC if the offset was not kept)."""
    if event.eta is None:
        return None
    return _in_zone(event.eta, int((event.other or {}).get("eta_offset_minutes", 0)))


def location_type(kind: str) -> str:
    """Gluey's LocationType for a carrier's kind of location code ("other" when unknown)."""
    key = kind.strip().lower().replace(" ", "_").replace("-", "_")
    if key in _LOCATION_TYPES:
        return key
    return LOCATION_TYPE_BY_KIND.get(key, LocationType.OTHER.value)


_LOCATION_TYPES = {t.value for t in LocationType}


def _location_dict(raw: Mapping[str, Any]) -> dict[str, Any]:
    location: dict[str, Any] = {}
    if not raw:
        return location
    get = raw.get
    kind = get("type") or (location_type(raw["code_type"]) if get("code_type") else "")
    code = get("code")
    if code:
        coding = {"code": code}
        if get("description"):
            coding["description"] = raw["description"]
        coding["type"] = kind or LocationType.OTHER.value
        location["carrier_location_coding"] = coding
    name, street, postal_code = get("name"), get("street"), get("postal_code")
    city, state, country = get("city"), get("state"), get("iso_country")
    if name or street or postal_code or city or state or country:
        # Gluey's TrackingEventAddress requires name, city and iso_country.
        address: dict[str, Any] = {}
        if kind:
            address["type"] = kind
        address["name"] = name or ""
        if street:
            address["street"] = street
        if postal_code:
            address["postal_code"] = postal_code
        address["city"] = city or ""
        if state:
            address["state"] = state
        address["iso_country"] = country or ""
        location["address"] = address
    lat, lng = get("lat"), get("lng")
    if lat is not None and lng is not None:
        location["geo"] = {"lat": lat, "lng": lng}
    return location


def _delivery_confirmation(event: Event) -> dict[str, Any] | None:
    other = event.other or {}
    if not event.signed_by and not other.get("photo_base64"):
        return None
    confirmation: dict[str, Any] = {}
    if event.signed_by:
        confirmation["signed_by"] = event.signed_by
    if other.get("photo_base64"):
        confirmation["base64_photo"] = other["photo_base64"]
    confirmation["photo_format"] = other.get("photo_format") or DEFAULT_PHOTO_FORMAT
    return confirmation


def _weight_dims(event: Event) -> dict[str, Any] | None:
    dims = (event.other or {}).get("dimensions_cm")
    if event.weight_kg is None and not dims:
        return None
    physical: dict[str, Any] = {}
    if event.weight_kg is not None:
        physical["weight"] = {"value": event.weight_kg, "unit": "kg"}
    if dims:
        length, width, height = (list(dims) + [None, None])[:3]
        dimensions: dict[str, Any] = {"length": length}
        if width is not None:
            dimensions["width"] = width
        if height is not None:
            dimensions["height"] = height
        dimensions["unit"] = "cm"
        physical["dimensions"] = dimensions
    return physical


def other_updates_dict(event: Event) -> dict[str, Any]:
    """Gluey's ``OtherUpdates`` for one event; empty when the carrier gave none of it."""
    other = event.other or {}
    body: dict[str, Any] = {}
    if not other and event.eta is None and event.weight_kg is None and not event.signed_by:
        return body  # most events: nothing but codes, time and place
    if other.get("condition"):
        body["condition"] = other["condition"]
    weight_dims = _weight_dims(event)
    if weight_dims is not None:
        body["carrier_weight_dims"] = weight_dims
    if event.eta is not None:
        body["eta"] = eta_iso(event)
    if other.get("shipping_cost") is not None:
        body["shipping_cost"] = other["shipping_cost"]
    if other.get("shipping_cost_currency"):
        body["shipping_cost_currency"] = other["shipping_cost_currency"]
    confirmation = _delivery_confirmation(event)
    if confirmation is not None:
        body["delivery_confirmation"] = confirmation
    if other.get("co2_footprint_kg") is not None:
        body["co2_footprint_kg"] = other["co2_footprint_kg"]
    return body


def _isoformats(values: list[datetime]) -> list[str]:
    """``[v.isoformat() for v in values]``, five times faster: orjson writes a datetime exactly as
    ``isoformat()`` does (tests/tracking/test_representations.py checks it), all in one call."""
    return orjson.dumps(values)[2:-2].decode().split('","') if values else []


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _carrier_moment(event: Event) -> datetime:
    """The event's time in the carrier's offset."""
    occurred, offset = event.occurred_at, event.utc_offset_minutes
    return occurred if offset == 0 and occurred.tzinfo is UTC else occurred.astimezone(_zone(offset))


GLUEY_KEYS = ("milestone", "code", "sub_code", "freetext_detail")


def gluey_codes_dict(milestone: str, code: str, sub_code: str) -> dict[str, str]:
    """``codes.gluey`` of a TrackingEvent (``GLUEY_KEYS``): the harmonised status with the taxonomy's description."""
    description = _descriptions.get((milestone, code, sub_code))
    if description is None:
        description = status_description(milestone, code, sub_code)
    return {"milestone": milestone, "code": code, "sub_code": sub_code, "freetext_detail": description}


def _event_body(
    event: Event, *, eta_on_top: bool, times: tuple[str, str] | None = None, gluey: bool = True
) -> dict[str, Any]:
    """``times``: (created_utc, carrier_utc) when the caller formatted them already (``_isoformats``);
    without ``gluey`` the harmonised codes are left out and ``codes`` comes first (``track_event_tail``)."""
    # The hot loop of every track answer (a thousand events for a batch of 100): the
    # common cases of the helpers above are written out here.
    carrier: dict[str, Any] = {"code": event.carrier_code}
    if event.carrier_sub_code:
        carrier["sub_code"] = event.carrier_sub_code
    if event.carrier_text:
        carrier["freetext_detail"] = event.carrier_text
    body: dict[str, Any] = {} if gluey else {"codes": {"carrier": carrier}}
    raw_location = event.location or {}
    meta = [{"key": str(m["key"]), "value": str(m["value"])} for m in event.carrier_meta] if event.carrier_meta else []
    kind = raw_location.get("code_type")
    if kind:
        meta.append({"key": LOCATION_KIND_META_KEY, "value": str(kind)})
    if meta:
        body["carrier_meta_data"] = meta
    if times is None:
        times = (utc_iso(event.recorded_at), carrier_time(event))
    body["event_time"] = {"created_utc": times[0], "carrier_utc": times[1]}
    eta = event.eta
    if eta_on_top and eta is not None:
        body["eta"] = eta_iso(event)
    if gluey:
        body["codes"] = {"gluey": gluey_codes_dict(event.milestone, event.code, event.sub_code), "carrier": carrier}
    body["location"] = _location_dict(raw_location)
    if event.other or eta is not None or event.weight_kg is not None or event.signed_by:
        other = other_updates_dict(event)
        if other:
            body["other"] = other
    return body


# The stored form of the track API's TrackingEvent (``TrackingEvent.track_json``) is this head,
# the gluey codes, a comma and the tail: the codes lead so that recording, which harmonises
# in its INSERT, can put them in front of a tail rendered here (``tracking.db.events_store``).
TRACK_JSON_HEAD = '{"codes":{"gluey":'


_CODES_OPEN = len(b'{"codes":{')


def track_event_tail(event: Event) -> str:
    """The stored TrackingEvent after its gluey codes: ``"carrier":{…}}`` and every other member.

    Recording renders one per event it stores (``tracking.services.recording``), so: one orjson
    call on the body with ``codes`` first, cut after the codes' opening brace."""
    return orjson.dumps(_event_body(event, eta_on_top=True, gluey=False))[_CODES_OPEN:].decode()


def track_event_json(event: Event) -> str:
    """The track API's TrackingEvent as stored: ``tracking_event_dict`` with the codes first."""
    gluey = orjson.dumps(gluey_codes_dict(event.milestone, event.code, event.sub_code)).decode()
    return f"{TRACK_JSON_HEAD}{gluey},{track_event_tail(event)}"


def tracking_event_dict(event: TrackingEvent) -> dict[str, Any]:
    """The track API's TrackingEvent (``eta`` at the top, as Gluey's API model)."""
    return _event_body(event, eta_on_top=True)


def webhook_tracking_event_dict(event: TrackingEvent) -> dict[str, Any]:
    """The webhook's TrackingEvent (the ETA only in ``other.eta``, as Gluey's webhook model)."""
    return _event_body(event, eta_on_top=False)


def tracking_update_dict(event: TrackingEvent) -> dict[str, Any] | None:
    """Gluey's ``TrackableReferenceUpdate`` when this event carries a new tracking number."""
    other = event.other or {}
    if not other.get("new_tracking_id"):
        return None
    update = {"new_carrier_tracking_id": other["new_tracking_id"]}
    if other.get("new_tracking_url"):
        update["new_carrier_tracking_url"] = other["new_tracking_url"]
    return update


def webhook_event_dict(
    *,
    shipment: Shipment,
    parcel: Parcel | None,
    event: TrackingEvent,
    correction: bool = False,
    predicted_delivery: Mapping[str, Any] | None = None,
    relabels: Mapping[int, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """``parcel``: the registration's parcel the event's number belongs to, or None for the shipment's own.
    ``predicted_delivery`` (our addition) goes into ``event.other``. ``relabels``
    (``tracking.selectors.tracking_updates``): the latest re-label per tracked
    item, repeated as ``carrier_tracking_update`` on every later event, as Gluey does."""
    update = tracking_update_dict(event)
    relabel = (relabels or {}).get(event.tracked_item_id)
    if update is None and relabel is not None and relabel["occurred_at"] <= event.occurred_at:
        update = {"new_carrier_tracking_id": relabel["new_tracking_id"]}
        if relabel.get("new_tracking_url"):
            update["new_carrier_tracking_url"] = relabel["new_tracking_url"]
    body: dict[str, Any] = {
        "shipment_id": str(shipment.id),
        "shipment_uuid_ref": shipment.uuid_ref or None,
        "shipment_meta_data": shipment.meta_data or [],
        "carrier_id": shipment.carrier_id,
        "carrier_tracking_id": shipment.carrier_tracking_id,
    }
    parcel_level = parcel is not None and shipment.tracking_level == TrackingLevel.PARCEL
    if update is not None and not parcel_level:
        body["carrier_tracking_update"] = update
    body["tracking_level"] = shipment.tracking_level
    if parcel is not None and parcel_level:
        ref: dict[str, Any] = {"parcel_id": str(parcel.id)}
        if parcel.uuid_ref:
            ref["parcel_uuid_ref"] = parcel.uuid_ref
        if parcel.meta_data:
            ref["parcel_meta_data"] = parcel.meta_data
        ref["carrier_tracking_id"] = parcel.carrier_tracking_id
        if update is not None:
            ref["carrier_tracking_update"] = update
        body["parcel"] = ref
    body["event"] = webhook_tracking_event_dict(event)
    if predicted_delivery is not None:
        # Our addition: the delivery date learnt from Gluey's own history, as of this event.
        body["event"].setdefault("other", {})["predicted_delivery"] = dict(predicted_delivery)
    if correction or event.corrected_at is not None:
        body["correction"] = True
    return body


def _latest_other(ordered: Sequence[Event], key: str) -> Any:
    return next(((e.other or {})[key] for e in reversed(ordered) if (e.other or {}).get(key) is not None), None)


def tracking_data_dict(events: Iterable[Event], predicted_delivery: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return _tracking_data(sorted(events, key=carrier_order), predicted_delivery)


def _tracking_data(ordered: Sequence[Event], predicted_delivery: Mapping[str, Any] | None) -> dict[str, Any]:
    """``TrackingData`` of events already in carrier-time order."""
    data = _summary(ordered, predicted_delivery)
    times = _isoformats([_utc(e.recorded_at) for e in ordered] + [_carrier_moment(e) for e in ordered])
    count = len(ordered)
    data["events"] = [
        _event_body(e, eta_on_top=True, times=(times[i], times[count + i])) for i, e in enumerate(ordered)
    ]
    return data


def _item_tracking_data(
    ordered: Sequence[Event], history: RenderedHistory | None, predicted_delivery: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``TrackingData`` of a tracked item: from ``history`` (its stored event JSON spliced in as it
    is) when it was read that way, else from its events in carrier-time order."""
    if history is None:
        return _tracking_data(ordered, predicted_delivery)
    data = _summary(history.notable, predicted_delivery)
    data["events"] = orjson.Fragment(f"[{history.events_json}]")
    return data


def _summary(ordered: Sequence[Event], predicted_delivery: Mapping[str, Any] | None) -> dict[str, Any]:
    """``TrackingData``'s summary fields, in one pass from the end of events in carrier-time order
    (only events with an ETA, ``other``, a signature or a weight can set one)."""
    if not ordered:
        return {} if predicted_delivery is None else {"predicted_delivery": dict(predicted_delivery)}
    with_eta = cost = confirmation = co2 = None
    for event in reversed(ordered):
        if with_eta is None and event.eta is not None:
            with_eta = event
        other = event.other
        if other:
            if cost is None and other.get("shipping_cost") is not None:
                cost = other
            if co2 is None and other.get("co2_footprint_kg") is not None:
                co2 = other["co2_footprint_kg"]
        if confirmation is None and (event.signed_by or (other and other.get("photo_base64"))):
            confirmation = _delivery_confirmation(event)
    data: dict[str, Any] = {}
    if with_eta is not None:
        data["current_eta"] = eta_iso(with_eta)
    if predicted_delivery is not None:
        # Our addition: learnt from Gluey's own history (tracking/prediction.py).
        data["predicted_delivery"] = dict(predicted_delivery)
    if cost is not None:
        data["shipping_cost"] = cost["shipping_cost"]
        if cost.get("shipping_cost_currency"):
            data["shipping_cost_currency"] = cost["shipping_cost_currency"]
    if confirmation is not None:
        data["delivery_confirmation"] = confirmation
    if co2 is not None:
        data["co2_footprint_kg"] = co2
    return data


def _references(shipment: ShipmentLike) -> dict[str, str]:
    refs = {}
    if shipment.reference_shipper:
        refs["shipper"] = shipment.reference_shipper
    if shipment.reference_receiver:
        refs["receiver"] = shipment.reference_receiver
    return refs


def parcel_condition(events: Sequence[Event]) -> str:
    """The latest condition a carrier reported (a ParcelCondition), "unknown" when none did."""
    return _condition(sorted(events, key=carrier_order))


def _condition(ordered: Sequence[Event]) -> str:
    return _latest_other(ordered, "condition") or ParcelCondition.UNKNOWN.value


def _parcel_ref(parcel: ParcelLike) -> dict[str, Any]:
    ref: dict[str, Any] = {"id": str(parcel.id)}
    if parcel.uuid_ref:
        ref["uuid_ref"] = parcel.uuid_ref
    if parcel.meta_data:
        ref["meta_data"] = parcel.meta_data
    ref["carrier_tracking_id"] = parcel.carrier_tracking_id
    return ref


def _tracked_parcel(
    parcel: ParcelLike,
    events: Sequence[Event],
    predicted_delivery: Mapping[str, Any] | None = None,
    history: RenderedHistory | None = None,
) -> dict[str, Any]:
    """``history``, when given, stands for ``events``."""
    ordered = history.notable if history is not None else sorted(events, key=carrier_order)
    body = _parcel_ref(parcel)
    body["condition"] = _condition(ordered)
    latest_dims = next((d for d in (_weight_dims(e) for e in reversed(ordered)) if d), None)
    if latest_dims is not None:
        body["carrier_weight_dims"] = latest_dims
    body["tracking_data"] = _item_tracking_data(ordered, history, predicted_delivery)
    return body


def batch_track_shipment_dict(
    shipment: ShipmentLike,
    parcels: Sequence[ParcelLike],
    events_by_item: Mapping[int, Sequence[Event]],
    *,
    single: bool = False,
    predictions: Mapping[int, Mapping[str, Any]] | None = None,
    rendered: Mapping[int, RenderedHistory] | None = None,
) -> dict[str, Any]:
    """``BatchTrackShipment``, or with ``single`` Gluey's ``TrackSingleShipment``.

    ``tracking_data`` holds the events of the shipment's own (master) number,
    for parcel-level shipments too; ``parcels`` lists the registered parcels
    (for ``single``, null unless the shipment is parcel-level). Our additions:
    ``carrier_id`` and ``carrier_tracking_id``, so batch results line up with
    the request. ``predictions`` is ``predicted_delivery`` by tracked item id
    (our addition; items on their way only). ``rendered`` holds the items whose
    history was read with its stored JSON (``tracking.selectors.RenderedHistory``),
    ``events_by_item`` the others.
    """
    predictions = predictions or {}
    rendered = rendered or {}
    body: dict[str, Any] = {"id": str(shipment.id)}
    if shipment.uuid_ref:
        body["uuid_ref"] = shipment.uuid_ref
    body["tracking_level"] = shipment.tracking_level
    body["carrier_id"] = shipment.carrier_id
    body["carrier_tracking_id"] = shipment.carrier_tracking_id
    body["references"] = _references(shipment)
    if single and shipment.tracking_level != TrackingLevel.PARCEL:
        body["parcels"] = None
    else:
        body["parcels"] = [
            _tracked_parcel(
                p,
                events_by_item.get(p.tracked_item_id, ()),
                predictions.get(p.tracked_item_id),
                rendered.get(p.tracked_item_id),
            )
            for p in parcels
        ]
    item_id = shipment.tracked_item_id
    history = rendered.get(item_id)
    events = sorted(events_by_item.get(item_id, ()), key=carrier_order) if history is None else ()
    body["tracking_data"] = _item_tracking_data(events, history, predictions.get(item_id))
    return body


def shipment_dict(shipment: Shipment, parcels: Sequence[Parcel]) -> dict[str, Any]:
    """The registration; ``created_utc``/``updated_utc`` as Gluey names them (a registration is never edited)."""
    body: dict[str, Any] = {"id": str(shipment.id)}
    if shipment.uuid_ref:
        body["uuid_ref"] = shipment.uuid_ref
    created = utc_iso(shipment.created_at)
    body.update(
        {
            "carrier_id": shipment.carrier_id,
            "carrier_tracking_id": shipment.carrier_tracking_id,
            "tracking_level": shipment.tracking_level,
            "references": _references(shipment),
            "meta_data": shipment.meta_data or [],
            "parcels": [_parcel_ref(p) for p in parcels],
            "created_utc": created,
            "updated_utc": created,
            # Our addition: registered without a carrier_id, the carrier recognised from the number.
            "carrier_detected": shipment.carrier_detected,
            "detected_format": shipment.detected_format or None,
        }
    )
    return body
