"""EDI status records become CarrierEvents on the carriers' side, with codes, time, place and where the zone came from."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest

from carriers.adapters.base import CarrierError
from carriers.adapters.edi_events import edi_events, to_carrier_event
from edi.model import Location, StatusEvent
from edi.x12.reader import iter_events
from tests.edi.helpers import fixture


def test_carrier_event_keeps_codes_time_and_place() -> None:
    ev = StatusEvent(
        "7741002231",
        "AH",
        datetime(2026, 3, 3, 17, 10, tzinfo=timezone(timedelta(hours=-5))),
        "A1",
        description="CONSIGNEE CLOSED",
        location=Location(city="HAMBURG", iso_country="DE", code="DEHAM"),
        references=(("BM", "BOL-1"),),
        scac="ODFL",
        weight=1000.0,
        weight_unit="L",
        quantity=3,
        meta=(("equipment", "TRL1"),),
    )
    ce = to_carrier_event(ev)
    assert (ce.tracking_id, ce.code, ce.sub_code, ce.description) == ("7741002231", "AH", "A1", "CONSIGNEE CLOSED")
    assert ce.occurred_at == ev.occurred_at and ce.occurred_at.utcoffset() == timedelta(hours=-5)
    assert (ce.location.city, ce.location.code, ce.location.code_type) == ("HAMBURG", "DEHAM", "UNLOCODE")
    assert ce.weight_kg == pytest.approx(453.592)
    assert ("scac", "ODFL") in ce.meta and ("ref_BM", "BOL-1") in ce.meta and ("equipment", "TRL1") in ce.meta
    assert ("zone_source", "explicit") in ce.meta  # the file gave the zone


def test_inferred_zone_is_noted_in_meta() -> None:
    ev = next(iter_events(io.BytesIO(fixture("x12_4010_two_groups.edi")), "UTC"))
    assert ev.zone_source == "location"
    assert ("zone_source", "location") in to_carrier_event(ev).meta


def test_whole_file_becomes_events() -> None:
    events = edi_events(iter_events, fixture("x12_4010_two_groups.edi"), default_zone="UTC", what="X12 214")
    assert len(events) == 9 and all(e.occurred_at.tzinfo is not None for e in events)


def test_edi_error_is_a_permanent_carrier_error_naming_the_format() -> None:
    with pytest.raises(CarrierError, match="^X12 214: ") as err:
        edi_events(iter_events, b"ISA*garbage~", default_zone="UTC", what="X12 214")
    assert err.value.permanent
    with pytest.raises(CarrierError, match="X12 214: the file is empty"):
        edi_events(iter_events, b"  \n", default_zone="UTC", what="X12 214")
