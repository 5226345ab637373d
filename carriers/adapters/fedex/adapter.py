"""FedEx Track API (Basic Integrated Visibility).

``POST {base_url}/track/v1/trackingnumbers`` with up to 30 numbers per
request and ``includeDetailedScans``; OAuth client credentials from
``POST {base_url}/oauth/token`` (form body). Each result lists
``scanEvents`` with FedEx's two-letter ``eventType``; an exception scan adds
an ``exceptionCode``, which we pass on as the sub-code. A number FedEx does
not know comes back inside the 200 answer as a result with an ``error``.

ETA: only a forecast of the delivery — the end of ``estimatedDeliveryTimeWindow``
when FedEx gives a window, else the ``ESTIMATED_DELIVERY`` or
``APPOINTMENT_DELIVERY`` date (never ``ANTICIPATED_TENDER``, the day the
shipper hands the parcel over), and none once delivered.

A scan time without an offset is local time at the scan: read in the zone
of its country and state when that resolves, else with the offset the same
result's other dates carry, else in the carrier's default zone (meta
``zone_source``: location, sibling_offset, partner_default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from carriers.adapters.base import Adapter, CarrierError, ParsedEvents, PollResult, Quota, Selection
from carriers.adapters.common import (
    BearerClient,
    as_dict,
    as_list,
    base_url,
    dimensions_cm,
    load_json,
    parse_local_iso,
    text,
)
from carriers.adapters.fedex.client import select_track_results, tracking_info
from tracking.types import CarrierEvent, Location

DEFAULT_BASE_URL = "https://apis.fedex.com"
# FedEx accepts at most 30 tracking numbers in one Track request.
BATCH_SIZE = 30
# dateAndTimes types that forecast the delivery (FedEx Track API); the others are past or other milestones.
_ETA_TYPES = ("ESTIMATED_DELIVERY", "APPOINTMENT_DELIVERY")
_NOT_FOUND = ("TRACKING.TRACKINGNUMBER.NOTFOUND", "TRACKING.TRACKINGNUMBER.INVALID", "TRACKING.DATA.NOTFOUND")


def _weight_kg(package: dict[str, Any]) -> float | None:
    weights = as_list(as_dict(package.get("weightAndDimensions"), "weightAndDimensions").get("weight"), "weight")
    for weight in weights:
        if not isinstance(weight, dict):
            continue
        try:
            value = float(weight.get("value", ""))
        except (TypeError, ValueError):
            continue
        unit = text(weight.get("unit")).upper()
        if unit == "LB":
            return round(value * 0.45359237, 3)
        if unit == "KG":
            return value
    return None


def _dimensions_cm(package: dict[str, Any]) -> tuple[float, float | None, float | None] | None:
    sizes = as_list(as_dict(package.get("weightAndDimensions"), "weightAndDimensions").get("dimensions"), "dimensions")
    for size in sizes:
        if isinstance(size, dict):
            found = dimensions_cm(size.get("length"), size.get("width"), size.get("height"), size.get("units"))
            if found is not None:
                return found
    return None


def _results(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    output = as_dict(data.get("output"), "output")
    for c_index, complete in enumerate(as_list(output.get("completeTrackResults"), "output.completeTrackResults")):
        complete = as_dict(complete, f"completeTrackResults[{c_index}]")
        for r_index, result in enumerate(
            as_list(complete.get("trackResults"), f"completeTrackResults[{c_index}].trackResults")
        ):
            result = as_dict(result, f"completeTrackResults[{c_index}].trackResults[{r_index}]")
            number = text(as_dict(result.get("trackingNumberInfo"), "trackingNumberInfo").get("trackingNumber"), 64)
            out.append((number or text(complete.get("trackingNumber"), 64), result))
    return out


def _destination(result: dict[str, Any]) -> dict[str, Any]:
    for key in ("recipientInformation", "destinationLocation"):
        holder = as_dict(result.get(key), key)
        address = holder.get("address") or as_dict(holder.get("locationContactAndAddress"), key).get("address")
        if isinstance(address, dict) and address:
            return address
    return {}


def _sibling_offset(result: dict[str, Any]) -> tzinfo | None:
    """The offset the result's other dates (dateAndTimes) carry, when they agree on one."""
    offsets = set()
    for item in as_list(result.get("dateAndTimes"), "dateAndTimes"):
        raw = text(item.get("dateTime"), 64) if isinstance(item, dict) else ""
        try:
            parsed = datetime.fromisoformat(raw) if raw else None
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            offsets.add(parsed.utcoffset())
    if len(offsets) == 1:
        (offset,) = offsets
        if isinstance(offset, timedelta):
            return timezone(offset)
    return None


def unknown_numbers(data: dict[str, Any]) -> dict[str, str]:
    invalid = {}
    for number, result in _results(data):
        error = as_dict(result.get("error"), "error")
        code = text(error.get("code"))
        if number and code in _NOT_FOUND:
            invalid[number] = f"FedEx {code}: {text(error.get('message'))}"
    return invalid


class FedexAdapter(Adapter):
    channels = frozenset({"poll"})
    number_formats = (
        "fedex_express_12",
        "fedex_ground_15",
        "fedex_sscc_20",
        "fedex_ground_96_22",
        "fedex_express_34",
        "fedex_ground_gsn_34",
    )
    poll_batch_size = BATCH_SIZE
    # FedEx's rate-limit guide: 1,400 transactions per project in any 10 s, and a
    # Track capability quota of 100,000 requests a day. A bucket of 200 refilled
    # at 120/s never sends more than 1,400 in 10 s.
    quota = Quota(per_second=120.0, burst=200, per_day=100_000)

    def parse(self, payload: bytes) -> list[CarrierEvent]:
        data = as_dict(load_json(payload, "FedEx response"), "FedEx response")
        if "output" not in data:
            if "errors" in data:
                return []  # a request-level error answer: no parcel news in it
            raise CarrierError("FedEx response has neither 'output' nor 'errors'", permanent=True)
        events = ParsedEvents()
        for number, result in _results(data):
            if result.get("error") and not result.get("scanEvents"):
                continue
            if not number:
                events.problems.append("a FedEx track result has no trackingNumber")
                continue
            self._result_events(number, result, events)
        if events.problems and not events:
            raise CarrierError("; ".join(events.problems), permanent=True)
        return events

    def _result_events(self, number: str, result: dict[str, Any], events: ParsedEvents) -> None:
        delivery = as_dict(result.get("deliveryDetails"), "deliveryDetails")
        weight = _weight_kg(as_dict(result.get("packageDetails"), "packageDetails"))
        size = _dimensions_cm(as_dict(result.get("packageDetails"), "packageDetails"))
        service = text(as_dict(result.get("serviceDetail"), "serviceDetail").get("description"))
        sibling = _sibling_offset(result)
        eta = self._eta(result, number)
        scans = as_list(result.get("scanEvents"), f"{number}.scanEvents")
        for s_index, scan in enumerate(scans):
            where = f"{number}.scanEvents[{s_index}]"
            try:
                events.append(
                    self._scan(
                        as_dict(scan, where),
                        where,
                        number,
                        delivery,
                        weight,
                        service,
                        size,
                        sibling,
                        eta if s_index == 0 else None,
                    )
                )
            except CarrierError as exc:
                events.problems.append(str(exc))

    def _eta(self, result: dict[str, Any], number: str) -> datetime | None:
        dates = {
            text(item.get("type")): item.get("dateTime")
            for item in as_list(result.get("dateAndTimes"), f"{number}.dateAndTimes")
            if isinstance(item, dict)
        }
        if "ACTUAL_DELIVERY" in dates:
            return None
        window = as_dict(
            as_dict(result.get("estimatedDeliveryTimeWindow"), "estimatedDeliveryTimeWindow").get("window"), "window"
        )
        raw = window.get("ends") or next((dates[t] for t in _ETA_TYPES if dates.get(t)), None)
        if not raw:
            return None
        address = _destination(result)
        return parse_local_iso(
            raw,
            f"{number}.estimated delivery",
            country=text(address.get("countryCode"), 2).upper(),
            state=text(address.get("stateOrProvinceCode"), 8),
            default_zone=self.default_zone,
        )[0]

    def _scan(
        self,
        scan: dict[str, Any],
        where: str,
        number: str,
        delivery: dict[str, Any],
        weight: float | None,
        service: str,
        size: tuple[float, float | None, float | None] | None,
        sibling: tzinfo | None,
        eta: datetime | None,
    ) -> CarrierEvent:
        code = text(scan.get("eventType"), 64)
        if not code:
            raise CarrierError(f"{where}.eventType is missing", permanent=True)
        place = as_dict(scan.get("scanLocation"), f"{where}.scanLocation")
        country, state = text(place.get("countryCode"), 2).upper(), text(place.get("stateOrProvinceCode"), 64)
        occurred_at, zone_source = parse_local_iso(
            scan.get("date"), f"{where}.date", country=country, state=state, default_zone=self.default_zone
        )
        if zone_source == "partner_default" and sibling is not None:
            occurred_at, zone_source = occurred_at.replace(tzinfo=sibling), "sibling_offset"
        street = " ".join(text(s) for s in as_list(place.get("streetLines"), "streetLines") if text(s))
        description = text(scan.get("eventDescription"))
        if text(scan.get("exceptionDescription")):
            description = (
                f"{description}: {text(scan.get('exceptionDescription'))}"
                if description
                else text(scan.get("exceptionDescription"))
            )
        meta = (
            ("derived_status", text(scan.get("derivedStatusCode"))),
            ("service", service),
            ("zone_source", zone_source),
        )
        return CarrierEvent(
            tracking_id=number,
            code=code,
            sub_code=text(scan.get("exceptionCode"), 64),
            description=description,
            occurred_at=occurred_at,
            location=Location(
                city=text(place.get("city"), 200),
                state=state,
                postal_code=text(place.get("postalCode"), 32),
                iso_country=country,
                street=street[:200],
                code=text(scan.get("locationId"), 32),
                code_type="fedex_location" if scan.get("locationId") else "",
            ),
            eta=eta,
            signed_by=text(delivery.get("receivedByName") or delivery.get("signedByName"), 200) if code == "DL" else "",
            weight_kg=weight,
            dimensions_cm=size,
            meta=tuple((k, v) for k, v in meta if v),
        )

    def client(self) -> BearerClient:
        return BearerClient(
            carrier_name="FedEx",
            token_url=f"{base_url(self.config, DEFAULT_BASE_URL)}/oauth/token",
            cache_key=f"fedex:{self.carrier.pk if self.carrier else ''}:{self.credentials.get('client_id', '')}",
            client_id=str(self.credentials.get("client_id") or ""),
            client_secret=str(self.credentials.get("client_secret") or ""),
            style="form",
            before_request=self.before_request,
        )

    def poll(self, tracking_ids: Sequence[str], hints: Mapping[str, Mapping[str, str]] | None = None) -> PollResult:
        if not 1 <= len(tracking_ids) <= BATCH_SIZE:
            raise CarrierError(f"FedEx takes 1–{BATCH_SIZE} tracking numbers per request", permanent=True)
        response = self.client().request(
            "POST",
            f"{base_url(self.config, DEFAULT_BASE_URL)}/track/v1/trackingnumbers",
            headers={"X-locale": "en_US", "Content-Type": "application/json"},
            json={
                "includeDetailedScans": True,
                "trackingInfo": [tracking_info(number, (hints or {}).get(number, {})) for number in tracking_ids],
            },
        )
        data = as_dict(load_json(response.content, "FedEx response"), "FedEx response")
        return PollResult(
            body=response.content, content_type=response.headers.get("Content-Type", ""), invalid=unknown_numbers(data)
        )

    def select_reply(self, payload: bytes, asked: Mapping[str, Mapping[str, str]]) -> Selection:
        return select_track_results(payload, asked)
