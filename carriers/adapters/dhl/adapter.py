"""DHL Shipment Tracking – Unified API (developer.dhl.com "shipment-tracking").

One GET per tracking number: ``{base_url}/track/shipments?trackingNumber=…``
with the ``DHL-API-Key`` header. A number DHL does not know answers 404 with a
problem+json body. Each event carries DHL's five-value ``statusCode``
(pre-transit, transit, delivered, failure, unknown); newer responses add a
finer ``statusDetailed``, which we pass on as the sub-code.

DHL's schema makes every event field optional. An event without
``statusCode`` is kept with the best code there is (its ``status`` title, else
its description), which no default mapping names, so it is recorded unmapped
and flagged (meta ``status_code_missing``); an event without a usable
timestamp is left out and named in the parse problems, and the others are
kept. A timestamp without an offset is read in the zone of the event's
address country (``edi.zones``), else the carrier's default zone (meta
``zone_source``). The ETA is the end of ``estimatedDeliveryTimeFrame`` when
given, else ``estimatedTimeOfDelivery``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from urllib.parse import urlencode

from carriers.adapters.base import Adapter, CarrierError, ParsedEvents, PollResult, Quota, Selection
from carriers.adapters.common import (
    as_dict,
    as_list,
    base_url,
    dimensions_cm,
    http,
    load_json,
    parse_local_iso,
    raise_for_status,
    text,
)
from carriers.adapters.dhl.client import request_query, select_shipments
from tracking.types import CarrierEvent, Location

DEFAULT_BASE_URL = "https://api-eu.dhl.com"


def _weight_kg(weight: dict) -> float | None:
    try:
        value = float(weight.get("value", ""))
    except (TypeError, ValueError):
        return None
    unit = text(weight.get("unitText")).lower()
    if unit in ("lb", "lbs"):
        return round(value * 0.45359237, 3)
    return value if unit in ("kg", "kgs", "") else None


def _dimensions_cm(dimensions: dict) -> tuple[float, float | None, float | None] | None:
    """DHL gives each side as {value, unitText}."""
    sides = [as_dict(dimensions.get(k), k) for k in ("length", "width", "height")]
    unit = next((text(s.get("unitText")) for s in sides if text(s.get("unitText"))), "")
    length, width, height = (s.get("value") for s in sides)
    return dimensions_cm(length, width, height, unit)


def _signed_by(details: dict) -> str:
    signed = as_dict(as_dict(details.get("proofOfDelivery"), "details.proofOfDelivery").get("signed"), "signed")
    name = " ".join(p for p in (text(signed.get("givenName")), text(signed.get("familyName"))) if p)
    # TrackingEvent.signed_by holds 200 characters, as the other adapters cut it.
    return (name or text(signed.get("name")) or text(signed.get("organizationName")))[:200]


class DhlAdapter(Adapter):
    channels = frozenset({"poll"})
    number_formats = (
        "dhl_express_10",
        "dhl_express_11",
        "dhl_paket_12",
        "dhl_paket_20",
        "dhl_parcel_jjd",
        "dhl_ecommerce_gm",
    )
    poll_batch_size = 1
    # Shipment Tracking – Unified, starter plan: 250 calls a day at 1 per second,
    # and DHL asks for no more than 10 fetches of one shipment a day.
    quota = Quota(per_second=1.0, burst=1, per_day=250, per_item_day=10)

    def parse(self, payload: bytes) -> list[CarrierEvent]:
        data = as_dict(load_json(payload, "DHL response"), "DHL response")
        if "shipments" not in data:
            # A problem+json answer (404 "No result found") carries no events.
            if "status" in data or "title" in data:
                return []
            raise CarrierError("DHL response has neither 'shipments' nor a problem description", permanent=True)
        result = ParsedEvents()
        for s_index, shipment in enumerate(as_list(data.get("shipments"), "shipments")):
            try:
                self._shipment_events(as_dict(shipment, f"shipments[{s_index}]"), f"shipments[{s_index}]", result)
            except CarrierError as exc:
                result.problems.append(str(exc))
        if result.problems and not result:
            raise CarrierError("; ".join(result.problems), permanent=True)
        return result

    def _shipment_events(self, shipment: dict, where: str, result: ParsedEvents) -> None:
        tracking_id = text(shipment.get("id"), 64)
        if not tracking_id:
            raise CarrierError(f"{where}.id is missing", permanent=True)
        details = as_dict(shipment.get("details"), f"{where}.details")
        weight = _weight_kg(as_dict(details.get("weight"), "details.weight"))
        size = _dimensions_cm(as_dict(details.get("dimensions"), "details.dimensions"))
        signer = _signed_by(details)
        destination = as_dict(as_dict(shipment.get("destination"), f"{where}.destination").get("address"), "address")
        eta = self._eta(shipment, text(destination.get("countryCode"), 2).upper())
        product = text(as_dict(details.get("product"), "details.product").get("productName"))
        for e_index, raw in enumerate(as_list(shipment.get("events"), f"{where}.events")):
            e_where = f"{where}.events[{e_index}]"
            try:
                event = self._event(as_dict(raw, e_where), e_where, tracking_id, eta, signer, weight, shipment, product)
                result.append(replace(event, dimensions_cm=size) if size else event)
            except CarrierError as exc:
                result.problems.append(str(exc))

    def _eta(self, shipment: dict, country: str) -> datetime | None:
        frame = as_dict(shipment.get("estimatedDeliveryTimeFrame"), "estimatedDeliveryTimeFrame")
        raw = frame.get("estimatedThrough") or shipment.get("estimatedTimeOfDelivery")
        if not raw:
            return None
        return self._time(raw, "estimatedTimeOfDelivery", country)[0]

    def _time(self, raw: object, where: str, country: str) -> tuple[datetime, str]:
        return parse_local_iso(raw, where, country=country, default_zone=self.default_zone)

    def _event(
        self,
        raw: dict,
        where: str,
        tracking_id: str,
        eta: datetime | None,
        signer: str,
        weight: float | None,
        shipment: dict,
        product: str,
    ) -> CarrierEvent:
        address = as_dict(as_dict(raw.get("location"), f"{where}.location").get("address"), f"{where}.location.address")
        country = text(address.get("countryCode"), 2).upper()
        occurred_at, zone_source = self._time(raw.get("timestamp"), f"{where}.timestamp", country)
        code = text(raw.get("statusCode"), 64)
        meta = [("service", text(shipment.get("service"))), ("product", product), ("zone_source", zone_source)]
        if not code:
            # No status code: the best code there is, which no mapping names, so the event is recorded unmapped.
            code = text(raw.get("status"), 64) or text(raw.get("description"), 64)
            if not code:
                raise CarrierError(f"{where} has neither statusCode, status nor description", permanent=True)
            meta.append(("status_code_missing", "true"))
        return CarrierEvent(
            tracking_id=tracking_id,
            code=code,
            sub_code=text(raw.get("statusDetailed"), 64),
            description=text(raw.get("description")) or text(raw.get("status")),
            occurred_at=occurred_at,
            location=Location(
                city=text(address.get("addressLocality"), 200),
                postal_code=text(address.get("postalCode"), 32),
                iso_country=country,
            ),
            eta=None if code == "delivered" else eta,
            signed_by=signer if code == "delivered" else "",
            weight_kg=weight,
            meta=tuple((k, v) for k, v in meta if v),
        )

    def poll(self, tracking_ids: Sequence[str], hints: Mapping[str, Mapping[str, str]] | None = None) -> PollResult:
        if len(tracking_ids) != 1:
            raise CarrierError("DHL's tracking API takes one number per request", permanent=True)
        api_key = self.credentials.get("api_key") or ""
        if not api_key:
            raise CarrierError("DHL: api_key must be set in the carrier's credentials", permanent=True)
        number = tracking_ids[0]
        query = request_query(number, (hints or {}).get(number, {}), self.config)
        self.before_request("track")
        response = http(
            "GET",
            f"{base_url(self.config, DEFAULT_BASE_URL)}/track/shipments?{urlencode(query)}",
            "DHL",
            headers={"DHL-API-Key": api_key, "Accept": "application/json"},
        )
        raise_for_status(response, "DHL", ok=(404,))
        invalid = {}
        learned: dict[str, dict[str, str]] = {}
        if response.status_code == 404:
            problem = load_json(response.content, "DHL 404 response") if response.content else {}
            reason = text(as_dict(problem, "DHL 404 response").get("detail")) or "No shipment found"
            invalid[number] = f"DHL: {reason}"
            more = [s for s in (hints or {}).get(number, {}).get("more_services", "").split(",") if s]
            if more:
                # Not in this service either: the next poll asks the next one DHL suggested.
                learned[number] = {"service": more[0], "more_services": ",".join(more[1:])}
        return PollResult(
            body=response.content,
            content_type=response.headers.get("Content-Type", ""),
            invalid=invalid,
            learned=learned,
        )

    def select_reply(self, payload: bytes, asked: Mapping[str, Mapping[str, str]]) -> Selection:
        return select_shipments(payload, asked)
