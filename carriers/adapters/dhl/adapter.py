"""DHL Shipment Tracking – Unified API (developer.dhl.com "shipment-tracking").

One GET per tracking number: ``{base_url}/track/shipments?trackingNumber=…``
with the ``DHL-API-Key`` header. A number DHL does not know answers 404 with a
problem+json body. Each event carries DHL's five-value ``statusCode``
(pre-transit, transit, delivered, failure, unknown); newer responses add a
finer ``statusDetailed``, which we pass on as the sub-code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

from carriers.adapters.base import Adapter, CarrierError, PollResult, Quota, Selection
from carriers.adapters.common import (
    as_dict,
    as_list,
    base_url,
    http,
    load_json,
    parse_iso,
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
        events: list[CarrierEvent] = []
        for s_index, shipment in enumerate(as_list(data.get("shipments"), "shipments")):
            shipment = as_dict(shipment, f"shipments[{s_index}]")
            tracking_id = text(shipment.get("id"), 64)
            if not tracking_id:
                raise CarrierError(f"shipments[{s_index}].id is missing", permanent=True)
            details = as_dict(shipment.get("details"), f"shipments[{s_index}].details")
            weight = _weight_kg(as_dict(details.get("weight"), "details.weight"))
            signer = _signed_by(details)
            eta_raw = shipment.get("estimatedTimeOfDelivery")
            eta = parse_iso(eta_raw, "estimatedTimeOfDelivery", default_zone=self.default_zone) if eta_raw else None
            product = text(as_dict(details.get("product"), "details.product").get("productName"))
            for e_index, raw in enumerate(as_list(shipment.get("events"), f"shipments[{s_index}].events")):
                where = f"shipments[{s_index}].events[{e_index}]"
                raw = as_dict(raw, where)
                code = text(raw.get("statusCode"), 64)
                if not code:
                    raise CarrierError(f"{where}.statusCode is missing", permanent=True)
                address = as_dict(
                    as_dict(raw.get("location"), f"{where}.location").get("address"), f"{where}.location.address"
                )
                meta = (("service", text(shipment.get("service"))), ("product", product))
                events.append(
                    CarrierEvent(
                        tracking_id=tracking_id,
                        code=code,
                        sub_code=text(raw.get("statusDetailed"), 64),
                        description=text(raw.get("description")) or text(raw.get("status")),
                        occurred_at=parse_iso(
                            raw.get("timestamp"), f"{where}.timestamp", default_zone=self.default_zone
                        ),
                        location=Location(
                            city=text(address.get("addressLocality"), 200),
                            postal_code=text(address.get("postalCode"), 32),
                            iso_country=text(address.get("countryCode"), 2).upper(),
                        ),
                        eta=eta,
                        signed_by=signer if code == "delivered" else "",
                        weight_kg=weight,
                        meta=tuple((k, v) for k, v in meta if v),
                    )
                )
        return events

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
