"""Fuzz the EDI readers with structure-aware damage: segments dropped, repeated,
swapped and invented, elements and components replaced with boundary values,
CSV rows, cells, columns and mappings mangled — on top of byte damage.

tests/edi/test_properties.py already flips bytes in the fixtures; this goes
past the tokenizer into envelopes, loops, dates and mappings. The promise:
bytes in, events out, or ``EdiError`` naming the place — never another
exception, and never the guard's "unexpected parse failure".
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edi import csvfile, detect
from edi.edifact import reader as edifact_reader
from edi.errors import EdiError
from edi.model import StatusEvent
from edi.x12 import reader as x12_reader
from edi.x12.ack import build_997
from tests.fuzz.strategies import (
    FUZZ,
    damaged,
    label,
    mutated_csv,
    mutated_edifact,
    mutated_x12,
    text,
)

pytestmark = pytest.mark.slow  # Hypothesis fuzzing

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
X12 = sorted([*(FIXTURES / "edi").glob("x12_*.edi"), *(FIXTURES / "carriers" / "x12_214").glob("*.edi")])
EDIFACT = sorted([*(FIXTURES / "edi").glob("iftsta_*.edi"), *(FIXTURES / "carriers" / "edifact_iftsta").glob("*.edi")])
CSV = sorted([*(FIXTURES / "edi").glob("*.csv"), *(FIXTURES / "carriers" / "csv").glob("*.csv")])
ZONES = st.sampled_from(["UTC", "America/Chicago", "Europe/Paris", "Asia/Kolkata", "Not/AZone", ""])


def only_edi_errors(read: Callable[[], Any]) -> Any:
    try:
        result = read()
    except EdiError as exc:
        assert not str(exc.message).startswith("unexpected"), f"the guard caught an internal error: {exc}"
        assert str(exc)  # the message names the problem
        label(f"EdiError at {exc.segment_id or exc.unit}")
        return None
    label("read through" if not isinstance(result, list) or result else "read through, nothing in it")
    return result


def check_events(events: Any) -> None:
    for event in events or []:
        assert isinstance(event, StatusEvent)
        assert event.occurred_at.utcoffset() is not None  # every time is placed in a zone


def test_fixture_sets_are_not_empty():
    assert X12 and EDIFACT and CSV


@FUZZ
@given(data=st.data(), zone=ZONES)
def test_x12_readers_survive_structural_damage(data: st.DataObject, zone: str) -> None:
    source = data.draw(st.sampled_from(X12)).read_bytes()
    damaged_file = data.draw(mutated_x12(source) | mutated_x12(source).flatmap(damaged))
    check_events(only_edi_errors(lambda: list(x12_reader.iter_events(io.BytesIO(damaged_file), zone))))
    only_edi_errors(lambda: list(x12_reader.iter_transactions(io.BytesIO(damaged_file), zone)))
    problems = only_edi_errors(lambda: x12_reader.validate(io.BytesIO(damaged_file), default_zone=zone or "UTC"))
    assert problems is None or all(isinstance(p, EdiError) for p in problems)
    ack = only_edi_errors(lambda: build_997(io.BytesIO(damaged_file)))
    if ack is not None:
        # The acknowledgment itself must read back as X12.
        assert ack.startswith(b"ISA")
    check_events(only_edi_errors(lambda: list(detect.iter_events(io.BytesIO(damaged_file), default_zone=zone))))


@FUZZ
@given(data=st.data(), zone=ZONES)
def test_edifact_readers_survive_structural_damage(data: st.DataObject, zone: str) -> None:
    source = data.draw(st.sampled_from(EDIFACT)).read_bytes()
    damaged_file = data.draw(mutated_edifact(source) | mutated_edifact(source).flatmap(damaged))
    check_events(only_edi_errors(lambda: list(edifact_reader.iter_events(io.BytesIO(damaged_file), zone))))
    problems = only_edi_errors(lambda: edifact_reader.validate(io.BytesIO(damaged_file)))
    assert problems is None or all(isinstance(p, EdiError) for p in problems)
    check_events(only_edi_errors(lambda: list(detect.iter_events(io.BytesIO(damaged_file), default_zone=zone))))


COLUMN_NAMES = sorted(csvfile.FIELDS)


@st.composite
def csv_profiles(draw: Any) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    if draw(st.booleans()):
        profile["columns"] = draw(st.dictionaries(st.sampled_from([*COLUMN_NAMES, "bogus"]), text, max_size=6))
    for key, values in (
        ("delimiter", [",", ";", "\t", "|", "", ",,", "\n"]),
        ("encoding", [None, "utf-8", "windows-1252", "iso-8859-1", "ebcdic", ""]),
        ("date_format", [None, "%d.%m.%Y", "%Y%m%d", "%H", "%Q", "", "%d.%m.%Y %H:%M"]),
        ("time_format", [None, "%H:%M", "%H%M%S", "%Z", ""]),
        ("zone", [None, "Europe/Berlin", "UTC", "Mars/Olympus", ""]),
        ("quotechar", ['"', "'", "", '""']),
    ):
        if draw(st.booleans()):
            profile[key] = draw(st.sampled_from(values))
    return profile


@FUZZ
@given(data=st.data(), zone=ZONES)
def test_csv_reader_survives_damaged_files_and_odd_mappings(data: st.DataObject, zone: str) -> None:
    path = data.draw(st.sampled_from(CSV))
    source = path.read_bytes()
    try:
        source.decode("utf-8")
        damaged_file = data.draw(mutated_csv(source) | damaged(source))
    except UnicodeDecodeError:
        damaged_file = data.draw(damaged(source))
    mapping_file = path.with_suffix(".mapping.json")
    mapping = json.loads(mapping_file.read_text()) if mapping_file.exists() else {}
    if data.draw(st.booleans()):
        mapping = {**mapping, **data.draw(csv_profiles())}

    def read() -> list[StatusEvent]:
        profile = csvfile.CsvProfile.from_dict(mapping)
        return list(csvfile.iter_events(io.BytesIO(damaged_file), zone or "UTC", profile=profile))

    check_events(only_edi_errors(read))
    check_events(only_edi_errors(lambda: list(detect.iter_events(io.BytesIO(damaged_file), mapping, zone or "UTC"))))
