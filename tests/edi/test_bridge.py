"""The bridge from EDI events to tracking's CarrierEvent, and writer input from dicts."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest

from edi.bridge import (
    status_event_from_dict,
    status_events_from_dicts,
    to_carrier_event,
    to_carrier_events,
)
from edi.errors import EdiError
from edi.model import Location, StatusEvent
from edi.x12.reader import iter_events
from tests.edi.helpers import fixture


def test_carrier_event_keeps_codes_time_and_place() -> None:
    ev = StatusEvent("7741002231", "AH", datetime(2026, 3, 3, 17, 10, tzinfo=timezone(timedelta(hours=-5))), "A1",
                     description="CONSIGNEE CLOSED", location=Location(city="HAMBURG", iso_country="DE", code="DEHAM"),
                     references=(("BM", "BOL-1"),), scac="ODFL", weight=1000.0, weight_unit="L", quantity=3,
                     meta=(("equipment", "TRL1"),))
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


def test_whole_file_bridges() -> None:
    events = to_carrier_events(iter_events(io.BytesIO(fixture("x12_4010_two_groups.edi")), "UTC"))
    assert len(events) == 9 and all(e.occurred_at.tzinfo is not None for e in events)


def test_writer_input_from_dicts() -> None:
    [ev] = status_events_from_dicts([{
        "tracking_id": "JD0002234001100086", "code": "DLV", "sub_code": None,
        "description": "Delivered to neighbour", "occurred_at": "2026-11-28T14:03:00+01:00",
        "location": {"city": "Leeds", "postal_code": "LS1 4AP", "iso_country": "GB"},
        "references": [["CU", "ORDER-1"]], "weight_kg": 2.5,
    }])
    assert ev.carrier_code == "DLV" and ev.carrier_sub_code == ""
    assert ev.occurred_at.utcoffset() == timedelta(hours=1)
    assert ev.location == Location(city="Leeds", postal_code="LS1 4AP", iso_country="GB")
    assert ev.references == (("CU", "ORDER-1"),) and (ev.weight, ev.weight_unit) == (2.5, "K")


@pytest.mark.parametrize(("data", "message"), [
    ({"tracking_id": "A", "code": "X", "occurred_at": "2026-01-01T00:00:00"}, "timezone-aware"),
    ({"tracking_id": "A", "code": "X", "occurred_at": "soon"}, "not ISO 8601"),
    ({"code": "X", "occurred_at": "2026-01-01T00:00:00Z"}, "tracking_id and code are required"),
    ({"tracking_id": "A", "code": "X", "occurred_at": "2026-01-01T00:00:00Z", "references": [1]}, "pairs"),
])
def test_bad_dicts_raise_edi_error(data: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(EdiError, match=message):
        status_event_from_dict(data)
