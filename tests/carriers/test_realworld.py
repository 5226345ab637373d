"""The realworld corpus: carrier files and payloads shaped as carriers really send them, end to end.

``tests/fixtures/realworld/<adapter>/<sample>`` holds samples we wrote
ourselves after carriers' and standards' public documentation (X12 214
4010/5010 with every terminator and envelope quirk, IFTSTA D96A/D00B/D04A,
DHL, UPS Track API and Track Alert, FedEx and USPS answers: delivered, in
transit, exception, not found, error). Each sits beside
``<sample>.expected.json``: the events as recorded (tracking id, carrier and
harmonised codes, UTC instant and offset, place, ETA, signer, unmapped and
estimate flags), the resulting state of each tracked item, and the elements
the adapter had to leave out.

Every sample runs through its adapter and ``events_record``; EDI samples
also through ``edi validate`` and ``edi inspect``, which must agree with
what was recorded. ``REALWORLD_REGENERATE=1`` rewrites the expected files
(review the diff: they are the specification).
"""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.management import call_command

from carriers.adapters.base import parse_problems
from carriers.adapters.registry import adapter_for
from tests.factories import make_carrier
from tracking import representations
from tracking.models import TrackedItem, TrackingEvent
from tracking.services import events_record

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "realworld"
# Each carrier's configured default zone: used only where a time has no offset and its place resolves to none.
ZONES = {
    "x12_214": "America/Chicago",
    "edifact_iftsta": "Europe/Brussels",
    "dhl": "Europe/Berlin",
    "ups": "America/New_York",
    "fedex": "America/Chicago",
    "usps": "America/New_York",
}
CREDENTIALS: dict[str, dict[str, str]] = {
    "dhl": {"api_key": "k"},
    "ups": {"client_id": "c", "client_secret": "s"},
    "fedex": {"client_id": "c", "client_secret": "s"},
    "usps": {"client_id": "c", "client_secret": "s"},
}
SAMPLES = sorted(p for p in CORPUS.glob("*/*") if not p.name.endswith(".expected.json"))


def _recorded(carrier_id: str) -> list[dict[str, Any]]:
    out = []
    for e in TrackingEvent.objects.filter(carrier_id=carrier_id).select_related("tracked_item").order_by("id"):
        out.append(
            {
                "tracking_id": e.tracked_item.tracking_id,
                "carrier": [e.carrier_code, e.carrier_sub_code],
                "gluey": f"{e.milestone}/{e.code}/{e.sub_code}",
                "unmapped": e.unmapped,
                "estimate": e.estimate,
                "occurred_utc": e.occurred_at.astimezone(UTC).isoformat(),
                "utc_offset_minutes": e.utc_offset_minutes,
                "location": e.location,
                "eta_utc": e.eta.astimezone(UTC).isoformat() if e.eta else None,
                "signed_by": e.signed_by,
                "weight_kg": e.weight_kg,
                "dimensions_cm": e.other.get("dimensions_cm"),
                "zone_source": next((m["value"] for m in e.carrier_meta if m["key"] == "zone_source"), None),
            }
        )
    return out


def _without(place: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in place.items() if k != key}


def _states(carrier_id: str) -> dict[str, str]:
    items = TrackedItem.objects.filter(carrier_id=carrier_id).order_by("tracking_id")
    return {i.tracking_id: f"{i.status_milestone}/{i.status_code}/{i.status_sub_code}".strip("/") for i in items}


@pytest.mark.django_db
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_parses_and_records_as_expected(sample: Path) -> None:
    adapter_name = sample.parent.name
    carrier = make_carrier(
        f"rw-{adapter_name.replace('_', '-')}",
        adapter=adapter_name,
        default_zone=ZONES[adapter_name],
        **CREDENTIALS.get(adapter_name, {}),
    )
    events = adapter_for(carrier).parse(sample.read_bytes())
    events_record(carrier=carrier, events=events, channel="sftp" if sample.suffix == ".edi" else "poll")
    actual = {"events": _recorded(carrier.pk), "states": _states(carrier.pk), "problems": parse_problems(events)}
    expected_path = sample.with_name(sample.name + ".expected.json")
    if os.environ.get("REALWORLD_REGENERATE"):
        expected_path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    assert actual == json.loads(expected_path.read_text())
    # What track reads serve as stored is what the representation renders from the row.
    for stored in TrackingEvent.objects.filter(carrier_id=carrier.pk):
        assert orjson.loads(stored.track_json or "null") == representations.tracking_event_dict(stored)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sample", [p for p in SAMPLES if p.suffix == ".edi"], ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_edi_validate_and_inspect_agree_with_what_is_recorded(sample: Path) -> None:
    zone = ZONES[sample.parent.name]
    call_command("edi", "validate", str(sample), "--default-zone", zone, stdout=io.StringIO())  # raises on a problem
    out = io.StringIO()
    call_command("edi", "inspect", str(sample), "--default-zone", zone, stdout=out)
    inspected = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    expected = json.loads(sample.with_name(sample.name + ".expected.json").read_text())["events"]
    assert [
        (
            e["tracking_id"],
            e["carrier_code"],
            e["carrier_sub_code"],
            datetime.fromisoformat(e["occurred_at"]).astimezone(UTC).isoformat(),
            e["location"],
        )
        for e in inspected
    ] == [  # code_type is the adapter's reading of the location code (UNLOCODE...), not something the file says
        (e["tracking_id"], e["carrier"][0], e["carrier"][1], e["occurred_utc"], _without(e["location"], "code_type"))
        for e in expected
    ]
