"""Simulated lanes with realistic, varied transit times, for the delivery-date backtest.

Each lane has its own collection cut-off, transit-day distribution, delivery
weekdays (some carriers deliver on Saturdays), delays (a share of parcels is
held a day or more, more of them in the pre-Christmas peak) and delivery hours.
Parcels are scanned at any time of day, so some miss the cut-off and some are
collected on a Saturday. Where the carrier gives an ETA, it is the carrier's
promise — its nominal transit counted from the scan day, blind to the cut-off
and to delays — which is how published ETAs tend to behave.

``journeys(start, days, per_day, seed)`` yields ``SimJourney``s: the carrier
events (in each carrier's own codes, so recording harmonises them) of parcels
whose first scan falls in the period. Pure: no database, no network.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tracking.types import CarrierEvent, Location

PUSH, FILES, API = "sim-push", "sim-files", "sim-api"


@dataclass(frozen=True)
class Place:
    city: str
    postal_code: str
    country: str
    zone: str

    def location(self) -> Location:
        return Location(city=self.city, postal_code=self.postal_code, iso_country=self.country)


@dataclass(frozen=True)
class SimLane:
    carrier_id: str
    service: str
    origin: Place
    destination: Place
    cutoff_hour: int
    # transit in delivery days after the start day → probability
    transit: dict[int, float]
    delivery_weekdays: tuple[int, ...]
    delay_share: float
    peak_delay_share: float
    delivery_hour_mean: float
    delivery_hour_sd: float
    # The carrier's promise in delivery days (its ETA), or None when it gives no ETA.
    promised_days: int | None
    weight: float = 1.0


BRISTOL = Place("Bristol", "BS1 5TR", "GB", "Europe/London")
LEEDS = Place("Leeds", "LS1 4AP", "GB", "Europe/London")
GLASGOW = Place("Glasgow", "G1 1XQ", "GB", "Europe/London")
LONDON = Place("London", "EC1A 1BB", "GB", "Europe/London")
BONN = Place("Bonn", "53113", "DE", "Europe/Berlin")
BERLIN = Place("Berlin", "10115", "DE", "Europe/Berlin")
MUNICH = Place("München", "80331", "DE", "Europe/Berlin")
PARIS = Place("Paris", "75001", "FR", "Europe/Paris")
WARSAW = Place("Warszawa", "00-001", "PL", "Europe/Warsaw")
CHICAGO = Place("CHICAGO", "60601", "US", "America/Chicago")
COLUMBUS = Place("COLUMBUS", "43004", "US", "America/New_York")
DALLAS = Place("DALLAS", "75201", "US", "America/Chicago")
LOS_ANGELES = Place("LOS ANGELES", "90001", "US", "America/Los_Angeles")

MON_FRI = (0, 1, 2, 3, 4)
MON_SAT = (0, 1, 2, 3, 4, 5)

LANES: tuple[SimLane, ...] = (
    # A UK parcel carrier: next day is the norm, Saturday deliveries, a late cut-off.
    SimLane(PUSH, "next-day", BRISTOL, LEEDS, 19, {1: 0.82, 2: 0.14, 3: 0.04}, MON_SAT, 0.05, 0.15, 13.0, 2.2, 1, 3),
    SimLane(PUSH, "next-day", BRISTOL, LONDON, 19, {1: 0.88, 2: 0.1, 3: 0.02}, MON_SAT, 0.04, 0.12, 12.0, 2.0, 1, 2),
    SimLane(PUSH, "economy", BRISTOL, GLASGOW, 17, {2: 0.45, 3: 0.4, 4: 0.15}, MON_FRI, 0.08, 0.2, 14.5, 2.5, 2, 1),
    SimLane(PUSH, "economy", LEEDS, LONDON, 17, {1: 0.3, 2: 0.55, 3: 0.15}, MON_FRI, 0.06, 0.18, 13.5, 2.4, 2, 1),
    # A German parcel network: early cut-off, Saturday deliveries, cross-border lanes take longer.
    SimLane(API, "parcel-de", BONN, BERLIN, 16, {1: 0.7, 2: 0.25, 3: 0.05}, MON_SAT, 0.05, 0.2, 12.5, 2.0, 1, 3),
    SimLane(API, "parcel-de", BONN, MUNICH, 16, {1: 0.55, 2: 0.35, 3: 0.1}, MON_SAT, 0.06, 0.2, 13.0, 2.2, 1, 2),
    SimLane(API, "parcel-eu", BONN, PARIS, 15, {2: 0.3, 3: 0.45, 4: 0.2, 5: 0.05}, MON_FRI, 0.1, 0.25, 14.0, 2.5, 2, 1),
    SimLane(
        API, "parcel-eu", BERLIN, WARSAW, 15, {2: 0.4, 3: 0.4, 4: 0.15, 6: 0.05}, MON_FRI, 0.12, 0.25, 13.0, 2.8, 3, 1
    ),
    # A US LTL carrier on EDI files: multi-day, weekdays only, no ETA in its 214s.
    SimLane(FILES, "LTL", CHICAGO, COLUMBUS, 15, {1: 0.35, 2: 0.5, 3: 0.15}, MON_FRI, 0.1, 0.15, 11.0, 2.5, None, 2),
    SimLane(FILES, "LTL", CHICAGO, DALLAS, 15, {2: 0.3, 3: 0.5, 4: 0.2}, MON_FRI, 0.12, 0.2, 11.5, 2.5, None, 1),
    SimLane(
        FILES,
        "LTL",
        CHICAGO,
        LOS_ANGELES,
        14,
        {4: 0.3, 5: 0.45, 6: 0.2, 7: 0.05},
        MON_FRI,
        0.15,
        0.2,
        12.0,
        3.0,
        None,
        1,
    ),
)

# Codes per carrier: (info received, first scan, hub in, hub out, out for delivery, delivered).
CODES: dict[str, tuple[str, str, str, str, str, str]] = {
    PUSH: ("CRE", "PCK", "HUB", "DEP", "OFD", "DLV"),
    API: ("pre-transit", "transit", "transit", "transit", "transit", "delivered"),
    FILES: ("X3", "AF", "X4", "P1", "X6", "D1"),
}


@dataclass(frozen=True)
class SimJourney:
    tracking_id: str
    lane: SimLane
    first_scan_at: datetime
    delivered_at: datetime
    carrier_eta: datetime | None
    events: tuple[CarrierEvent, ...]


def _start_day(scan: datetime, cutoff_hour: int) -> date:
    day = scan.date()
    if scan.hour >= cutoff_hour:
        day += timedelta(days=1)
    while day.weekday() > 4:
        day += timedelta(days=1)
    return day


def _add_days(start: date, count: int, weekdays: tuple[int, ...]) -> date:
    day = start
    while count > 0:
        day += timedelta(days=1)
        if day.weekday() in weekdays:
            count -= 1
    while day.weekday() not in weekdays:
        day += timedelta(days=1)
    return day


def _is_peak(day: date) -> bool:
    return (day.month == 11 and day.day >= 20) or (day.month == 12 and day.day <= 24)


def _scan_time(rng: random.Random, day: date, zone: ZoneInfo) -> datetime:
    # Collections cluster in the late afternoon; some parcels are scanned in the evening, past the cut-off.
    hour = min(22.9, max(7.0, rng.gauss(16.5, 2.6)))
    return datetime.combine(day, time(int(hour), int(hour % 1 * 60), rng.randrange(60)), tzinfo=zone)


def _journey(rng: random.Random, lane: SimLane, scan_day: date, number: int) -> SimJourney:
    origin_zone, dest_zone = ZoneInfo(lane.origin.zone), ZoneInfo(lane.destination.zone)
    first_scan = _scan_time(rng, scan_day, origin_zone)
    start = _start_day(first_scan, lane.cutoff_hour)
    days = rng.choices(list(lane.transit), weights=list(lane.transit.values()))[0]
    delay_share = lane.peak_delay_share if _is_peak(start) else lane.delay_share
    if rng.random() < delay_share:
        days += rng.choices((1, 2, 3), weights=(0.65, 0.25, 0.1))[0]
    delivery_day = _add_days(start, days, lane.delivery_weekdays)
    hour = min(20.5, max(8.0, rng.gauss(lane.delivery_hour_mean, lane.delivery_hour_sd)))
    delivered = datetime.combine(delivery_day, time(int(hour), int(hour % 1 * 60)), tzinfo=dest_zone)
    eta = None
    if lane.promised_days is not None:
        # The carrier promises from the scan's own date, ignoring its cut-off, at noon.
        promised = _add_days(first_scan.date(), lane.promised_days, lane.delivery_weekdays)
        eta = datetime.combine(promised, time(12, 0), tzinfo=dest_zone)
    tracking_id = f"{lane.carrier_id.split('-')[1][:1].upper()}LN{number:08d}"
    created, scanned, hub_in, hub_out, ofd, delivered_code = CODES[lane.carrier_id]
    meta = (
        ("service", lane.service),
        ("destination_postal_code", lane.destination.postal_code),
        ("destination_country", lane.destination.country),
    )
    label_time = first_scan - timedelta(hours=rng.uniform(1, 30))
    hub_time = first_scan + (delivered - first_scan) * rng.uniform(0.2, 0.4)
    out_time = datetime.combine(delivery_day, time(7, rng.randrange(60)), tzinfo=dest_zone)
    out_time = min(out_time, delivered - timedelta(minutes=10))
    depart_time = hub_time + (out_time - hub_time) * rng.uniform(0.1, 0.4)
    steps = (
        (created, label_time, lane.origin, "Shipment data received"),
        (scanned, first_scan, lane.origin, "Collected from the sender"),
        (hub_in, hub_time, lane.origin, "Arrived at the hub"),
        (hub_out, depart_time, lane.origin, "Left the hub"),
        (ofd, out_time, lane.destination, "Out for delivery"),
        (delivered_code, delivered, lane.destination, "Delivered"),
    )
    events = tuple(
        CarrierEvent(
            tracking_id=tracking_id,
            code=code,
            occurred_at=moment,
            description=text,
            location=place.location(),
            eta=eta if code != delivered_code else None,
            meta=meta,
        )
        for code, moment, place, text in steps
    )
    return SimJourney(tracking_id, lane, first_scan, delivered, eta, events)


def journeys(*, start: date, days: int, per_day: int, seed: int = 15) -> Iterator[SimJourney]:
    """About ``per_day`` parcels first scanned on each day of the period (fewer on weekends)."""
    rng = random.Random(seed)
    weights = [lane.weight for lane in LANES]
    number = 0
    for offset in range(days):
        day = start + timedelta(days=offset)
        count = per_day if day.weekday() < 5 else (per_day // 8 if day.weekday() == 5 else 0)
        for _ in range(count):
            number += 1
            lane = rng.choices(LANES, weights=weights)[0]
            yield _journey(rng, lane, day, number)
