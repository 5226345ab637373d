"""UPS: the Track API for polling and Track Alert for pushed events.

Polling: ``GET {base_url}/api/track/v1/details/{inquiryNumber}`` with an
OAuth client-credentials token (``POST {base_url}/security/v1/oauth/token``,
HTTP Basic with the client id and secret), one number per request. Each
activity has a ``status`` with ``type`` (D, I, X, P, M, …), the detailed
three-digit ``statusCode`` and a two-letter activity ``code``.

Push (Track Alert): UPS POSTs one JSON object per event to our webhook URL
with the ``credential`` header we chose when subscribing; for a UPS carrier
that credential is the carrier's webhook secret. Its ``activityStatus`` has
the same ``type`` and two-letter ``code``, and the three-digit code as
``descriptionCode``.

Harmonisation key, the same for both shapes so one scan seen by push and by
poll is one event: the three-digit code (``statusCode`` / ``descriptionCode``)
when UPS sends one, else the activity ``type``; the two-letter activity code
is the sub-code.

Times: UPS gives local dates and times. Their zone is, in order, the
activity's ``gmtOffset``, the offset between the local and the GMT twin, the
zone of the activity's country and state (``edi.zones``), and the carrier's
default zone; the event's meta ``zone_source`` says which.

ETA: the Track API's scheduled or rescheduled delivery date (``SDD``/``RDD``)
with the end of the delivery window or commit time when given; Track Alert's
``scheduledDeliveryDate`` with ``deliveryEndTime``. A delivered date is never
an ETA.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import quote

from carriers.adapters.base import (
    Adapter,
    CarrierError,
    ParsedEvents,
    PollResult,
    Quota,
    WebhookAuthError,
    WebhookRequest,
)
from carriers.adapters.common import (
    BearerClient,
    as_dict,
    as_list,
    base_url,
    dimensions_cm,
    load_json,
    parse_offset,
    text,
)
from carriers.adapters.ups.push import push_token_issue, verify_push
from edi.zones import resolve_zone
from tracking.types import CarrierEvent, Location

DEFAULT_BASE_URL = "https://onlinetools.ups.com"
# Track Alert: at most 100 numbers per subscription request; a subscription lasts 14 days.
SUBSCRIBE_BATCH = 100
SUBSCRIPTION_DAYS = 14


@dataclass(frozen=True)
class Subscribed:
    valid: list[str]
    refused: list[str]


# Warning/error codes UPS uses for a number it does not know or cannot read.
_UNKNOWN_NUMBER_PREFIXES = ("TW", "TV")


def _local_time(
    date: Any, time: Any, offset: str, gmt_date: str, gmt_time: str, place: Location, default_zone: str, where: str
) -> tuple[datetime, str]:
    """A local date (YYYYMMDD) and time (HHMMSS) in its zone, and where the zone came from."""
    date, time = text(date), text(time).zfill(6) if text(time) else "000000"
    try:
        local = datetime.strptime(date + time, "%Y%m%d%H%M%S")
    except ValueError:
        raise CarrierError(f"{where}: date/time {date!r} {time!r} is not YYYYMMDD HHMMSS", permanent=True) from None
    tz = parse_offset(offset) if offset else None
    if tz is not None:
        return local.replace(tzinfo=tz), "explicit"
    if gmt_date and gmt_time:
        # The offset is the difference to the GMT twin, rounded to a quarter hour.
        try:
            gmt = datetime.strptime(text(gmt_date) + text(gmt_time).zfill(6), "%Y%m%d%H%M%S")
        except ValueError:
            gmt = None
        if gmt is not None:
            minutes = round((local - gmt).total_seconds() / 900) * 15
            if abs(minutes) <= 14 * 60:
                return local.replace(tzinfo=timezone(timedelta(minutes=minutes))), "explicit"
    zone, source = resolve_zone(place.iso_country, place.state, default_zone)
    return local.replace(tzinfo=zone), source


def _eta(date: Any, end_time: Any, place: Location, default_zone: str) -> datetime | None:
    """A delivery date (YYYYMMDD) and the end of its window (HHMMSS, else end of day) in the place's zone."""
    date, end_time = text(date), text(end_time)
    if not date:
        return None
    try:
        day = datetime.strptime(date, "%Y%m%d")
        at = datetime.strptime(end_time.zfill(6), "%H%M%S").time() if end_time else time(23, 59, 59)
    except ValueError:
        return None
    return datetime.combine(day, at, tzinfo=resolve_zone(place.iso_country, place.state, default_zone)[0])


def _location(address: dict[str, Any]) -> Location:
    # The Track API says countryCode, Track Alert country.
    country = text(address.get("countryCode"), 2) or text(address.get("country"), 2)
    return Location(
        city=text(address.get("city"), 200),
        state=text(address.get("stateProvince"), 64),
        postal_code=text(address.get("postalCode"), 32),
        iso_country=country.upper(),
        street=text(address.get("addressLine1"), 200),
    )


def _weight_kg(weight: dict[str, Any]) -> float | None:
    try:
        value = float(weight.get("weight", ""))
    except (TypeError, ValueError):
        return None
    unit = text(weight.get("unitOfMeasurement")).upper()
    if unit == "LBS":
        return round(value * 0.45359237, 3)
    return value if unit == "KGS" else None


def unknown_numbers(payload: dict[str, Any], requested: Sequence[str]) -> dict[str, str]:
    """Numbers UPS says it does not know, from warnings in a 200 or errors in a 400/404 body."""
    messages: list[dict[str, Any]] = []
    for shipment in as_list(as_dict(payload.get("trackResponse"), "trackResponse").get("shipment"), "shipment"):
        if isinstance(shipment, dict) and not shipment.get("package"):
            messages.extend(w for w in as_list(shipment.get("warnings"), "warnings") if isinstance(w, dict))
    messages.extend(
        e for e in as_list(as_dict(payload.get("response"), "response").get("errors"), "errors") if isinstance(e, dict)
    )
    for message in messages:
        code = text(message.get("code"))
        if code.startswith(_UNKNOWN_NUMBER_PREFIXES):
            reason = f"UPS {code}: {text(message.get('message'))}"
            return {number: reason for number in requested}
    return {}


class UpsAdapter(Adapter):
    channels = frozenset({"poll", "webhook"})
    number_formats = ("ups_1z",)
    poll_batch_size = 1
    # UPS publishes no figure (a 429 carries none either); we keep to a gentle
    # 5 calls a second and honour any Retry-After.
    quota = Quota(per_second=5.0, burst=5)
    # Track Alert: "Return a 200 status to indicate that the data was received successfully".
    push_ack_status = 200
    subscribe_batch_size = SUBSCRIBE_BATCH
    subscription_days = SUBSCRIPTION_DAYS

    def verify_webhook(self, request: WebhookRequest) -> None:
        verify_push(self.carrier, request)

    def push_token(self, headers: Mapping[str, str], form: Mapping[str, str]) -> dict[str, Any]:
        if self.carrier is None:
            raise WebhookAuthError("no carrier")
        return push_token_issue(carrier=self.carrier, headers=headers, form=form)

    def parse(self, payload: bytes) -> list[CarrierEvent]:
        data = load_json(payload, "UPS payload")
        if isinstance(data, dict) and "trackResponse" in data:
            return self._parse_track_response(data)
        if isinstance(data, dict) and "response" in data and "errors" in as_dict(data["response"], "response"):
            return []  # an error answer to a poll: nothing happened to any parcel
        if isinstance(data, dict) and "trackingNumber" in data and "activityStatus" in data:
            return [self._parse_alert(data)]
        raise CarrierError(
            "UPS payload is neither a Track API response ('trackResponse') nor a Track Alert event "
            "('trackingNumber' with 'activityStatus')",
            permanent=True,
        )

    def _parse_track_response(self, data: dict[str, Any]) -> ParsedEvents:
        result = ParsedEvents()
        shipments = as_list(as_dict(data["trackResponse"], "trackResponse").get("shipment"), "trackResponse.shipment")
        for s_index, shipment in enumerate(shipments):
            shipment = as_dict(shipment, f"shipment[{s_index}]")
            for p_index, package in enumerate(as_list(shipment.get("package"), f"shipment[{s_index}].package")):
                where = f"shipment[{s_index}].package[{p_index}]"
                try:
                    result.extend(self._package_events(as_dict(package, where), shipment, where))
                except CarrierError as exc:
                    result.problems.append(str(exc))
        if result.problems and not result:
            raise CarrierError("; ".join(result.problems), permanent=True)
        return result

    def _package_events(self, package: dict[str, Any], shipment: dict[str, Any], where: str) -> list[CarrierEvent]:
        tracking_id = text(package.get("trackingNumber"), 64) or text(shipment.get("inquiryNumber"), 64)
        if not tracking_id:
            raise CarrierError(f"{where}.trackingNumber is missing", permanent=True)
        delivery = as_dict(package.get("deliveryInformation"), f"{where}.deliveryInformation")
        weight = _weight_kg(as_dict(package.get("weight"), f"{where}.weight"))
        service = text(as_dict(package.get("service"), f"{where}.service").get("description"))
        dimension = as_dict(package.get("dimension"), f"{where}.dimension")
        unit = dimension.get("unitOfDimension")
        size = dimensions_cm(
            dimension.get("length"),
            dimension.get("width"),
            dimension.get("height"),
            as_dict(unit, "unitOfDimension").get("code") if isinstance(unit, dict) else unit,
        )
        activities = [
            as_dict(a, f"{where}.activity[{i}]")
            for i, a in enumerate(as_list(package.get("activity"), f"{where}.activity"))
        ]
        # The ETA is given in the destination's terms: the newest activity's place is the best guess of its zone.
        newest_place = (
            _location(as_dict(as_dict(activities[0].get("location"), "location").get("address"), "address"))
            if activities
            else Location()
        )
        eta = self._track_eta(package, newest_place, where)
        events = []
        for a_index, activity in enumerate(activities):
            a_where = f"{where}.activity[{a_index}]"
            status = as_dict(activity.get("status"), f"{a_where}.status")
            code = text(status.get("statusCode"), 64) or text(status.get("type"), 64)
            if not code:
                raise CarrierError(f"{a_where}.status has neither statusCode nor type", permanent=True)
            location = as_dict(activity.get("location"), f"{a_where}.location")
            loc = _location(as_dict(location.get("address"), f"{a_where}.location.address"))
            if location.get("slic"):
                with_slic: dict[str, Any] = {
                    **loc.as_dict(),
                    "code": text(location.get("slic"), 32),
                    "code_type": "slic",
                }
                loc = Location(**with_slic)
            occurred_at, zone_source = _local_time(
                activity.get("date"),
                activity.get("time"),
                text(activity.get("gmtOffset")),
                text(activity.get("gmtDate")),
                text(activity.get("gmtTime")),
                loc,
                self.default_zone,
                a_where,
            )
            delivered = text(status.get("type")) == "D" and code in ("011", "D")
            meta = (
                ("status_type", text(status.get("type"))),
                ("service", service),
                ("zone_source", zone_source),
            )
            events.append(
                CarrierEvent(
                    tracking_id=tracking_id,
                    code=code,
                    sub_code=text(status.get("code"), 64),
                    description=text(status.get("description")),
                    occurred_at=occurred_at,
                    location=loc,
                    eta=None if delivered else eta,
                    signed_by=text(delivery.get("receivedBy"), 200) if text(status.get("type")) == "D" else "",
                    weight_kg=weight,
                    dimensions_cm=size,
                    meta=tuple((k, v) for k, v in meta if v),
                )
            )
        return events

    def _track_eta(self, package: dict[str, Any], place: Location, where: str) -> datetime | None:
        dates = {
            text(d.get("type")): text(d.get("date"))
            for d in as_list(package.get("deliveryDate"), f"{where}.deliveryDate")
            if isinstance(d, dict)
        }
        date = dates.get("RDD") or dates.get("SDD")
        if not date or "DEL" in dates:
            return None
        window = as_dict(package.get("deliveryTime"), f"{where}.deliveryTime")
        end = text(window.get("endTime")) if text(window.get("type")) in ("EDW", "CDW", "IDW", "CMT") else ""
        return _eta(date, end, place, self.default_zone)

    def _parse_alert(self, data: dict[str, Any]) -> CarrierEvent:
        status = as_dict(data.get("activityStatus"), "activityStatus")
        # descriptionCode is the Track API's statusCode: the same scan harmonises (and dedupes) the same way.
        code = text(status.get("descriptionCode"), 64) or text(status.get("type"), 64)
        if not code:
            raise CarrierError("activityStatus has neither descriptionCode nor type", permanent=True)
        tracking_id = text(data.get("trackingNumber"), 64)
        if not tracking_id:
            raise CarrierError("trackingNumber is missing", permanent=True)
        loc = _location(as_dict(data.get("activityLocation"), "activityLocation"))
        occurred_at, zone_source = _local_time(
            data.get("localActivityDate"),
            data.get("localActivityTime"),
            "",
            text(data.get("gmtActivityDate")),
            text(data.get("gmtActivityTime")),
            loc,
            self.default_zone,
            "Track Alert event",
        )
        delivered = bool(text(data.get("actualDeliveryDate")))
        eta = (
            None
            if delivered
            else _eta(data.get("scheduledDeliveryDate"), data.get("deliveryEndTime"), loc, self.default_zone)
        )
        meta = [
            (k, text(data.get(k)))
            for k in ("scheduledDeliveryDate", "actualDeliveryDate", "actualDeliveryTime", "deliveryTimeDescription")
            if text(data.get(k))
        ]
        if text(status.get("type")):
            meta.append(("status_type", text(status.get("type"))))
        meta.append(("zone_source", zone_source))
        return CarrierEvent(
            tracking_id=tracking_id,
            code=code,
            sub_code=text(status.get("code"), 64),
            description=text(status.get("description")),
            occurred_at=occurred_at,
            location=loc,
            eta=eta,
            meta=tuple(meta),
        )

    def client(self) -> BearerClient:
        return BearerClient(
            carrier_name="UPS",
            token_url=f"{base_url(self.config, DEFAULT_BASE_URL)}/security/v1/oauth/token",
            cache_key=f"ups:{self.carrier.pk if self.carrier else ''}:{self.credentials.get('client_id', '')}",
            client_id=str(self.credentials.get("client_id") or ""),
            client_secret=str(self.credentials.get("client_secret") or ""),
            style="basic",
            before_request=self.before_request,
        )

    def poll(self, tracking_ids: Sequence[str], hints: Mapping[str, Mapping[str, str]] | None = None) -> PollResult:
        if len(tracking_ids) != 1:
            raise CarrierError("UPS's Track API takes one inquiry number per request", permanent=True)
        number = tracking_ids[0]
        response = self.client().request(
            "GET",
            f"{base_url(self.config, DEFAULT_BASE_URL)}/api/track/v1/details/{quote(number, safe='')}"
            "?locale=en_US&returnSignature=false",
            headers={"transId": uuid.uuid4().hex[:32], "transactionSrc": "gluey", "Accept": "application/json"},
            ok=(400, 404),
        )
        invalid: dict[str, str] = {}
        if response.content:
            data = load_json(response.content, "UPS response")
            if isinstance(data, dict):
                invalid = unknown_numbers(data, tracking_ids)
        refused: dict[str, str] = {}
        if response.status_code in (400, 404) and not invalid:
            # One number per request: a 400 without a "not found" code is about this number.
            refused[number] = f"UPS API answered {response.status_code}: {response.text[:300]}"
        return PollResult(
            body=response.content,
            content_type=response.headers.get("Content-Type", ""),
            invalid=invalid,
            refused=refused,
        )

    def subscribe(self, tracking_ids: Sequence[str], *, push_url: str = "") -> Subscribed:
        """Track Alert: subscribe up to 100 numbers for 14 days of pushed events.

        v2 (the default) has no destination in the body: the webhook URL, token
        URL and client credentials are set once in UPS's "Manage Webhook
        Credentials". v1 sends our URL and the ``credential`` UPS echoes back.
        """
        if not 1 <= len(tracking_ids) <= SUBSCRIBE_BATCH:
            raise CarrierError(f"UPS Track Alert takes 1–{SUBSCRIBE_BATCH} numbers per subscription", permanent=True)
        version = str(self.config.get("track_alert_version") or "v2")
        body: dict[str, Any] = {"locale": "en_US", "countryCode": "US", "trackingNumberList": list(tracking_ids)}
        if version == "v1":
            secret = self.carrier.webhook_secret if self.carrier is not None else ""
            body["destination"] = {"url": push_url, "credentialType": "Bearer", "credential": secret}
        response = self.client().request(
            "POST",
            f"{base_url(self.config, DEFAULT_BASE_URL)}/api/track/{version}/subscription/standard/package",
            headers={"transId": uuid.uuid4().hex[:32], "transactionSrc": "gluey", "Content-Type": "application/json"},
            json=body,
            ok=(400,),
        )
        data = as_dict(load_json(response.content or b"{}", "UPS Track Alert response"), "UPS Track Alert response")
        refused = {str(n) for n in as_list(data.get("invalidTrackingNumbers"), "invalidTrackingNumbers")}
        if response.status_code == 400 and not refused:
            errors = as_list(as_dict(data.get("response"), "response").get("errors"), "errors")
            detail = "; ".join(f"{text(e.get('code'))} {text(e.get('message'))}" for e in errors if isinstance(e, dict))
            raise CarrierError(f"UPS Track Alert refused the subscription: {detail}", permanent=True, carrier_wide=True)
        valid = [str(n) for n in as_list(data.get("validTrackingNumbers"), "validTrackingNumbers")]
        return Subscribed(valid=valid, refused=sorted(refused))
