"""DHL Shipment Tracking – Unified: what we ask, and which shipment of the answer we keep.

Asking: ``trackingNumber`` alone lets DHL search every service, and it may
answer with another shipment's history. So the request also names the
``service`` when the carrier's configuration, the shipment or the number's
format tells it, and the ``recipientPostalCode`` / ``originCountryCode`` the
shipment was registered with (some services withhold detail without them).

Keeping (``select_shipments``), per number asked:

1. a shipment whose ``id`` is the number, or which lists it among
   ``details.pieceIds`` or ``details.references`` (asked by a piece number, DHL
   answers with the shipment the piece belongs to; its events are the piece's);
2. of several such shipments (the same number in two services), the one of the
   service we asked for, else the one with the latest status — and the choice
   is flagged, so ops can register the service;
3. any other shipment is dropped and flagged, never recorded under its own id;
4. nothing kept but ``possibleAdditionalShipmentsUrl`` present: the services
   those URLs name are tried, one per later poll.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlparse

from carriers.adapters.base import Selection

# Number formats that name a single DHL service.
_SERVICE_FORMATS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\d{10}$"), "express"),  # DHL Express waybill
    (re.compile(r"^00340434\d{12}$"), "parcel-de"),  # DHL Paket (Germany) 20-digit label number
    (re.compile(r"^GM\d{16,22}$"), "ecommerce"),  # DHL eCommerce (Americas)
    (re.compile(r"^3S[A-Z0-9]{8,20}$"), "parcel-nl"),  # DHL Parcel Benelux
)


def service_for(number: str) -> str:
    """The DHL service a number's format belongs to, or "" when the format is shared or unknown."""
    for pattern, service in _SERVICE_FORMATS:
        if pattern.match(number.strip().upper()):
            return service
    return ""


def request_query(number: str, hints: Mapping[str, str], config: Mapping[str, Any]) -> dict[str, str]:
    query = {"trackingNumber": number, "language": str(config.get("language") or "en")}
    service = hints.get("service") or str(config.get("service") or "") or service_for(number)
    if service:
        query["service"] = service
    if hints.get("recipient_postal_code"):
        query["recipientPostalCode"] = hints["recipient_postal_code"]
    if hints.get("origin_country_code"):
        query["originCountryCode"] = hints["origin_country_code"].upper()
    if config.get("requester_country_code"):
        query["requesterCountryCode"] = str(config["requester_country_code"]).upper()
    return query


def _same(a: str, b: str) -> bool:
    return a.replace(" ", "").upper() == b.replace(" ", "").upper()


def _refers_to(shipment: dict[str, Any], number: str) -> bool:
    details = value if isinstance(value := shipment.get("details"), dict) else {}
    pieces = value if isinstance(value := details.get("pieceIds"), list) else []
    if any(isinstance(p, str) and _same(p, number) for p in pieces):
        return True
    references = value if isinstance(value := details.get("references"), list) else []
    return any(isinstance(r, dict) and _same(str(r.get("number") or ""), number) for r in references)


def _status_time(shipment: dict[str, Any]) -> str:
    status = value if isinstance(value := shipment.get("status"), dict) else {}
    return str(status.get("timestamp") or "")


def _services_in(urls: Any) -> list[str]:
    services: list[str] = []
    for url in urls if isinstance(urls, list) else []:
        if isinstance(url, str):
            for service in parse_qs(urlparse(url).query).get("service", []):
                if service and service not in services:
                    services.append(service)
    return services


def select_shipments(payload: bytes, asked: Mapping[str, Mapping[str, str]]) -> Selection:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return Selection(body=payload)  # parse() names what is wrong with it
    if not isinstance(data, dict) or not isinstance(data.get("shipments"), list):
        return Selection(body=payload)
    shipments = [s for s in data["shipments"] if isinstance(s, dict)]
    kept: list[dict[str, Any]] = []
    problems: dict[str, str] = {}
    learned: dict[str, dict[str, str]] = {}
    about_asked: set[int] = set()
    for number, hints in asked.items():
        direct = [s for s in shipments if _same(str(s.get("id") or ""), number)]
        candidates = direct or [s for s in shipments if _refers_to(s, number)]
        about_asked.update(id(s) for s in candidates)
        notes: list[str] = []
        wanted = hints.get("service", "")
        if wanted and any(s.get("service") == wanted for s in candidates):
            candidates = [s for s in candidates if s.get("service") == wanted]
        if len(candidates) > 1:
            candidates.sort(key=_status_time)
            services = ", ".join(str(s.get("service") or "?") for s in candidates)
            notes.append(
                f"DHL has {len(candidates)} shipments numbered {number} (services {services}); kept the "
                f"{candidates[-1].get('service') or 'unnamed'} one, whose status is the latest — register the "
                "shipment's service to choose"
            )
        if candidates:
            chosen = dict(candidates[-1])
            if not direct:
                notes.append(f"DHL answered with shipment {chosen.get('id')}, which lists {number} as a piece")
                chosen["id"] = number
            kept.append(chosen)
            if chosen.get("service"):
                learned[number] = {"service": str(chosen["service"]), "more_services": ""}
        else:
            more = _services_in(data.get("possibleAdditionalShipmentsUrl"))
            if not more and hints.get("more_services"):
                more = [s for s in hints["more_services"].split(",") if s]
            if more:
                learned[number] = {"service": more[0], "more_services": ",".join(more[1:])}
                notes.append(f"DHL found no shipment {number} here; next poll asks service {more[0]}")
        if notes:
            problems[number] = "; ".join(notes)
    strangers = [str(s.get("id") or "?") for s in shipments if id(s) not in about_asked]
    if strangers:
        message = f"DHL answered about shipment(s) {', '.join(strangers)}, not the number asked; not recorded"
        for number in asked:
            problems[number] = f"{problems[number]}; {message}" if number in problems else message
    return Selection(body=json.dumps({"shipments": kept}).encode(), problems=problems, learned=learned)
