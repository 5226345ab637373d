"""The lean path of the two hot reads: ``GET /shipments/{id}/track`` and ``POST /track``.

Customers poll these all day, and for a small answer DRF's request and
response machinery (request wrapping, content negotiation, parser, the
authentication, permission and throttle classes, serializer validation,
``Response`` rendering) cost more than the read itself. Their views try this
path first (``ShipmentTrackView.dispatch``, ``BatchTrackView.dispatch``). It
serves only a request that is entirely ordinary — the right ``x-version``, a
valid key within its rate, no query string, an ``Accept`` that JSON satisfies,
and for ``POST /track`` a small JSON body of well-formed values — and declines
(returns None) everything else. DRF then answers exactly as it always has, so
every error (400, 401, 404 of a bad path, 405, 406, 415, 422, 429) and every
unusual request still comes from one code path. What this path answers itself
(200, 204 and "Shipment not found." 404) is built by the same selectors and
representations as the DRF handlers, with the same headers (``Allow`` as DRF
sets it), and rendered by the same renderer; tests/api/test_track_hot.py
compares the two paths response by response. See docs/architecture.md, "Reads".

The rate limit is counted here once the key is known (the request counts
whichever path answers it); a request handed over to DRF carries its count in
``request.META`` so it is not counted twice.
"""

from __future__ import annotations

import gc
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple
from urllib.parse import quote

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.http.request import RawPostDataException
from django.utils.http import parse_header_parameters

from tracking import representations, selectors
from tracking.api.auth import API_VERSIONS, customer_for_key
from tracking.api.renderers import ORJSONRenderer
from tracking.api.serializers import MAX_BATCH
from tracking.api.throttle import COUNTED, rate_check
from tracking.models import Customer
from tracking.services import predicted_deliveries_for_track

SHIPMENT_NOT_FOUND = "Shipment not found."
# Accept headers that DRF would answer with our only renderer and its plain media type.
_PLAIN_ACCEPTS = frozenset({"*/*", "application/json", "application/json, */*", "application/*"})
# A 100-value body is a few kilobytes; anything bigger goes through DRF and its size limit.
_MAX_BODY = 64 * 1024
# (request field, longest value) of POST /track's text lists, as TrackRequest declares them.
_TEXT_LISTS = (("uuid_refs", 100), ("carrier_tracking_ids", 64))
_render = ORJSONRenderer().render
# A UUID as str(uuid.UUID(...)) writes it: lower-case, hyphenated.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def track_bodies(result: selectors.TrackResult, *, single: bool = False) -> list[dict[str, Any]]:
    """The ``BatchTrackShipment`` (``single``: ``TrackSingleShipment``) bodies of a track result."""
    rendered = result.rendered
    # Only an item on its way gets a prediction: a stored history that is settled, or that has no
    # notable events (so no first scan), cannot have one. Most histories a read takes are one of
    # the two, and a batch of only those asks for no prediction at all.
    on_their_way = {item: h.notable for item, h in rendered.items() if h.notable and not h.settled}
    predictions = (
        predicted_deliveries_for_track(
            shipments=result.shipments,
            parcels=result.parcels,
            events_by_item={**result.events_by_item, **on_their_way},
            settled=[item for item in rendered if item not in on_their_way],
        )
        if result.events_by_item or on_their_way
        else {}
    )
    return [
        # Looked up at call time: the contract tests wrap it to check every body.
        representations.batch_track_shipment_dict(
            shipment,
            result.parcels.get(shipment.id, []),
            result.events_by_item,
            single=single,
            predictions=predictions,
            rendered=rendered,
        )
        for shipment in result.shipments
    ]


def last_updated_headers(result: selectors.TrackResult) -> dict[str, str]:
    last = result.last_updated
    return {"x-last-updated": representations.utc_z(last)} if last is not None else {}


def not_found_header(result: selectors.TrackResult) -> dict[str, str]:
    if not result.not_found:
        return {}
    return {"x-not-found": ",".join(quote(value, safe="") for value in result.not_found)}


class Answer(NamedTuple):
    """What the lean path answers: a status, the JSON body (None: no body, no Content-Type) and
    headers of its own (the middleware's and ``Allow`` are added by whoever sends it)."""

    status: int
    body: bytes | None
    headers: dict[str, str]


def _customer(meta: dict[str, Any]) -> Customer | None:
    """The key's customer if nothing about the request needs DRF; the request is then counted
    (once, whichever path answers it: the count is kept in ``meta``)."""
    if meta.get("QUERY_STRING") or meta.get("HTTP_X_VERSION", "").strip() not in API_VERSIONS:
        return None
    accept = meta.get("HTTP_ACCEPT")
    if accept is not None and accept not in _PLAIN_ACCEPTS:
        return None
    raw = meta.get(getattr(settings, "API_KEY_CUSTOM_HEADER", "HTTP_X_KEY"), "")
    found = customer_for_key(raw.strip()) if raw else None
    if found is None:
        return None
    customer, api_key = found
    counted = meta.get(COUNTED)
    if counted is None:
        counted = meta[COUNTED] = rate_check(prefix=api_key.prefix)
    if not counted[0]:
        return None  # DRF answers 429 from the count above
    return customer


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a track answer is read, built and rendered.

    A 100-shipment answer is tens of thousands of rows, dicts and lists that all live until it is
    rendered, and none is part of a cycle: collections in between free nothing, yet each rescans
    them (a tenth of a 2,000-event answer's time). Reference counting frees them all afterwards.
    Other threads' collections wait for this moment too, which costs them nothing but memory.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, _render(data), headers or {})


def answer_one(meta: dict[str, Any], shipment_id: str) -> Answer | None:
    """``GET /shipments/{id}/track`` from the request's WSGI environ (``request.META``), or None for DRF."""
    customer = _customer(meta)
    if customer is None:
        return None
    with _collector_paused():
        result = selectors.shipment_for_customer(customer=customer, shipment_id=shipment_id)
        if result is None:
            return _json({"detail": SHIPMENT_NOT_FOUND}, status=404)
        if result.last_updated is None:
            return Answer(204, None, {})
        return _json(track_bodies(result, single=True)[0], headers=last_updated_headers(result))


def batch_body_length(meta: dict[str, Any]) -> int | None:
    """The length of a body the lean path reads (a small JSON one), else None."""
    content_type, params = parse_header_parameters(meta.get("CONTENT_TYPE", ""))
    if content_type != "application/json" or params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        return None
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    return length if 0 < length <= _MAX_BODY else None


def _batch_values(body: bytes) -> tuple[list[str], list[str], list[str]] | None:
    """ids (in UUIDs' canonical text), uuid_refs and carrier tracking ids of a plainly valid body (as
    TrackRequest reads it), else None."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    raw_ids = data.get("ids", [])
    if not isinstance(raw_ids, list):
        return None
    ids = []
    for value in raw_ids:
        if not isinstance(value, str):
            return None
        if _CANONICAL_UUID.match(value):  # as almost every client sends it: no UUID object to build
            ids.append(value)
            continue
        try:
            ids.append(str(uuid.UUID(value)))
        except ValueError:
            return None
    texts: list[list[str]] = []
    for name, longest in _TEXT_LISTS:
        values = data.get(name, [])
        if not isinstance(values, list):
            return None
        for value in values:
            # DRF would strip surrounding blanks, or refuse the value: leave those to it.
            if not isinstance(value, str) or not 0 < len(value) <= longest or value.strip() != value or "\0" in value:
                return None
        texts.append(values)
    if not 0 < len(ids) + len(texts[0]) + len(texts[1]) <= MAX_BATCH:
        return None
    return ids, texts[0], texts[1]


def answer_batch(meta: dict[str, Any], body: bytes) -> Answer | None:
    """``POST /track`` of ``body`` (of the length ``batch_body_length`` allowed), or None for DRF."""
    values = _batch_values(body)
    if values is None:
        return None
    customer = _customer(meta)
    if customer is None:
        return None
    ids, uuid_refs, carrier_tracking_ids = values
    with _collector_paused():
        result = selectors.shipments_track(
            customer=customer, ids=ids, uuid_refs=uuid_refs, carrier_tracking_ids=carrier_tracking_ids
        )
        if not result.shipments:
            return _json({"detail": SHIPMENT_NOT_FOUND}, status=404)
        return _json(track_bodies(result), headers={**last_updated_headers(result), **not_found_header(result)})


def _response(answer: Answer | None, allow: str) -> HttpResponse | None:
    if answer is None:
        return None
    if answer.body is None:
        response = HttpResponse(status=answer.status)
        del response["Content-Type"]  # as DRF leaves an empty body
    else:
        response = HttpResponse(answer.body, content_type="application/json", status=answer.status)
    for name, value in answer.headers.items():
        response[name] = value
    response["Allow"] = allow
    return response


def track_one(request: HttpRequest, shipment_id: str, *, allow: str) -> HttpResponse | None:
    """``GET /shipments/{id}/track``, or None for DRF to answer."""
    if request.method != "GET":
        return None
    return _response(answer_one(request.META, shipment_id), allow)


def track_batch(request: HttpRequest, *, allow: str) -> HttpResponse | None:
    """``POST /track``, or None for DRF to answer."""
    if request.method != "POST" or batch_body_length(request.META) is None:
        return None
    try:
        body = request.body
    except (RawPostDataException, RequestDataTooBig):
        return None
    return _response(answer_batch(request.META, body), allow)
