"""USPS Tracking API v3 (apis.usps.com).

``GET {base_url}/tracking/v3/tracking/{trackingNumber}?expand=DETAIL`` with
an OAuth client-credentials token from ``POST {base_url}/oauth2/v3/token``
(JSON body), one number per request. Each of ``trackingEvents`` carries the
two-character ``eventCode`` of Publication 199's scan-event table, a local
``eventTimestamp`` and, separately, its ``GMTTimestamp`` and ``GMTOffset``.
404 means USPS does not know the number.

Times: USPS documents ``eventTimestamp`` as the event's local date and time
and gives its GMT twin beside it; the ``Z`` its examples put on
``eventTimestamp`` is therefore not UTC. The event keeps the local wall time
with ``GMTOffset`` (or the offset between the local and the GMT timestamps);
with neither, the zone of the event's state or country, else the carrier's
default zone (meta ``zone_source``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from carriers.adapters.base import Adapter, CarrierError, ParsedEvents, PollResult, Quota
from carriers.adapters.common import (
    BearerClient,
    as_dict,
    as_list,
    base_url,
    load_json,
    parse_iso,
    parse_offset,
    text,
)
from edi.zones import resolve_zone
from tracking.types import CarrierEvent, Location

DEFAULT_BASE_URL = "https://apis.usps.com"


def _event_time(raw: dict[str, Any], where: str, place: Location, default_zone: str) -> tuple[datetime, str]:
    """The event's local time with its offset, and where the offset came from (see the module docstring)."""
    local_raw = text(raw.get("eventTimestamp"), 64)
    gmt_raw = text(raw.get("GMTTimestamp"), 64)
    if not local_raw:
        return parse_iso(gmt_raw, f"{where}.GMTTimestamp"), "explicit"
    try:
        local = datetime.fromisoformat(local_raw.removesuffix("Z").removesuffix("z"))
    except ValueError:
        raise CarrierError(f"{where}.eventTimestamp is not an ISO 8601 time: {local_raw!r}", permanent=True) from None
    if local.utcoffset() is not None:
        return local, "explicit"  # a numeric offset is what it says
    offset = parse_offset(text(raw.get("GMTOffset")))
    if offset is not None:
        return local.replace(tzinfo=offset), "explicit"
    if gmt_raw:
        gmt = parse_iso(gmt_raw, f"{where}.GMTTimestamp").astimezone(UTC).replace(tzinfo=None)
        minutes = round((local - gmt).total_seconds() / 900) * 15
        if abs(minutes) <= 14 * 60:
            return local.replace(tzinfo=timezone(timedelta(minutes=minutes))), "explicit"
    place_zone, source = resolve_zone(place.iso_country, place.state, default_zone)
    return local.replace(tzinfo=place_zone), source


class UspsAdapter(Adapter):
    channels = frozenset({"poll"})
    number_formats = ("usps_20", "usps_impb_22", "usps_impb_26", "s10_us")
    poll_batch_size = 1
    # USPS APIs v3 default: about 60 calls an hour per application, OAuth token
    # calls included (USPS/api-examples#107); spread evenly, a token and a track
    # call may leave together.
    quota = Quota(per_second=1 / 60, burst=2, per_hour=60)

    def parse(self, payload: bytes) -> list[CarrierEvent]:
        data = as_dict(load_json(payload, "USPS response"), "USPS response")
        if "trackingEvents" not in data and "trackingNumber" not in data:
            if "error" in data:
                return []  # an error answer (unknown number): no parcel news
            raise CarrierError("USPS response has neither 'trackingNumber' nor 'error'", permanent=True)
        number = text(data.get("trackingNumber"), 64)
        if not number:
            raise CarrierError("USPS response has no trackingNumber", permanent=True)
        events = ParsedEvents()
        for index, raw in enumerate(as_list(data.get("trackingEvents"), "trackingEvents")):
            where = f"trackingEvents[{index}]"
            try:
                events.append(self._event(as_dict(raw, where), where, number, data))
            except CarrierError as exc:
                events.problems.append(str(exc))
        if events.problems and not events:
            raise CarrierError("; ".join(events.problems), permanent=True)
        return events

    def _event(self, raw: dict[str, Any], where: str, number: str, data: dict[str, Any]) -> CarrierEvent:
        code = text(raw.get("eventCode"), 64)
        if not code:
            raise CarrierError(f"{where}.eventCode is missing", permanent=True)
        country = text(raw.get("eventCountry"), 2).upper()
        if not country and (raw.get("eventState") or raw.get("eventZIP") or raw.get("eventZIPCode")):
            # Domestic scans leave the country empty.
            country = "US"
        location = Location(
            city=text(raw.get("eventCity"), 200),
            state=text(raw.get("eventState"), 64),
            postal_code=text(raw.get("eventZIP") or raw.get("eventZIPCode"), 32),
            iso_country=country,
        )
        occurred_at, zone_source = _event_time(raw, where, location, self.default_zone)
        name = text(raw.get("name"), 200) or text(raw.get("firm"), 200)
        meta = [(k, text(data.get(k))) for k in ("mailClass",) if text(data.get(k))]
        meta.append(("zone_source", zone_source))
        return CarrierEvent(
            tracking_id=number,
            code=code,
            description=text(raw.get("eventType")),
            occurred_at=occurred_at,
            location=location,
            signed_by=name if code == "01" else "",
            meta=tuple(meta),
        )

    def client(self) -> BearerClient:
        return BearerClient(
            carrier_name="USPS",
            token_url=f"{base_url(self.config, DEFAULT_BASE_URL)}/oauth2/v3/token",
            cache_key=f"usps:{self.carrier.pk if self.carrier else ''}:{self.credentials.get('client_id', '')}",
            client_id=str(self.credentials.get("client_id") or ""),
            client_secret=str(self.credentials.get("client_secret") or ""),
            style="json",
            before_request=self.before_request,
        )

    def poll(self, tracking_ids: Sequence[str], hints: Mapping[str, Mapping[str, str]] | None = None) -> PollResult:
        if len(tracking_ids) != 1:
            raise CarrierError("USPS's tracking API takes one number per request", permanent=True)
        number = tracking_ids[0]
        response = self.client().request(
            "GET",
            f"{base_url(self.config, DEFAULT_BASE_URL)}/tracking/v3/tracking/{quote(number, safe='')}?expand=DETAIL",
            headers={"Accept": "application/json"},
            ok=(400, 404),
        )
        invalid: dict[str, str] = {}
        refused: dict[str, str] = {}
        if response.status_code in (400, 404):
            error = as_dict(
                as_dict(load_json(response.content or b"{}", "USPS error"), "USPS error").get("error"), "error"
            )
            reason = f"USPS {response.status_code}: {text(error.get('message')) or 'tracking number not found'}"
            # 404: USPS does not know the number (yet); 400: USPS refuses the number as given.
            (invalid if response.status_code == 404 else refused)[number] = reason
        return PollResult(
            body=response.content,
            content_type=response.headers.get("Content-Type", ""),
            invalid=invalid,
            refused=refused,
        )
