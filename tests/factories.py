"""Small factories for the named personas the tests use.

acme — a customer with one API key; "acme-post" — a generic_json carrier
with its default code map; "parcelco" — a second carrier with no mappings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from carriers.models import Carrier
from carriers.services import carrier_create
from tracking.models import Customer, LaneTransitStat
from tracking.prediction import Lane, TransitSample, lane_model_fit
from tracking.services import customer_create
from tracking.types import CarrierEvent, Location

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def make_carrier(carrier_id: str = "acme-post", adapter: str = "generic_json", **config: object) -> Carrier:
    return carrier_create(carrier_id=carrier_id, adapter=adapter, config=config)


def make_customer(name: str = "acme") -> tuple[Customer, str]:
    return customer_create(name=name)


def event(
    tracking_id: str = "JD0002234001100086",
    code: str = "HUB",
    minutes: int = 0,
    sub_code: str = "",
    city: str = "Leeds",
    **kwargs: object,
) -> CarrierEvent:
    return CarrierEvent(
        tracking_id=tracking_id,
        code=code,
        sub_code=sub_code,
        occurred_at=T0 + timedelta(minutes=minutes),
        description=kwargs.pop("description", f"{code} at {city}"),  # type: ignore[arg-type]
        location=Location(city=city, iso_country="GB"),
        **kwargs,  # type: ignore[arg-type]
    )


def make_lane_history(carrier_id: str = "acme-post", samples: int = 40) -> LaneTransitStat:
    """A carrier-wide lane learnt from ``samples`` parcels, each delivered the working day after its scan."""
    lane = Lane(carrier_id, origin_country="GB")
    monday = datetime(2026, 9, 7, 10, tzinfo=UTC)
    history = [
        TransitSample(lane, scanned, scanned + timedelta(days=1, hours=3))
        for n in range(samples)
        for scanned in [monday + timedelta(days=7 * (n // 4) + n % 4)]
    ]
    model = lane_model_fit(4, f"4|{carrier_id}", f"{carrier_id}, all lanes", history)
    return LaneTransitStat.objects.create(
        key=model.key,
        carrier_id=carrier_id,
        level=model.level,
        label=model.label,
        sample_size=model.sample_size,
        low_days=model.low,
        median_days=model.mid,
        high_days=model.high,
        coverage=model.coverage,
        model=model.as_json(),
        refreshed_at=datetime.now(UTC),
    )
