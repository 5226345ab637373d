"""Carriers' CSV status files, and format detection across all three formats."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from edi import detect
from edi.csvfile import CsvProfile, iter_events, write_csv
from edi.errors import EdiError
from edi.model import Location, StatusEvent
from tests.edi.helpers import FIXTURES, event_dict, expected, fixture, trickle


def _mapping() -> CsvProfile:
    return CsvProfile.from_dict(json.loads((FIXTURES / "carrier_status_semicolon.mapping.json").read_text()))


def test_mapped_windows_1252_semicolon_file() -> None:
    events = [
        event_dict(e) for e in iter_events(io.BytesIO(fixture("carrier_status_semicolon.csv")), profile=_mapping())
    ]
    assert events == expected("carrier_status_semicolon.expected.json")
    assert events[0]["description"] == "Zugestellt beim Nachbarn; Hausnr. 12"
    assert events[0]["occurred_at"] == "2026-03-11T10:42:00+01:00"
    assert events[2]["location"]["city"] == "Düsseldorf"


def test_default_columns_and_iso_times() -> None:
    data = fixture("default_columns.csv")
    events = [event_dict(e) for e in iter_events(io.BytesIO(data))]
    assert events == expected("default_columns.expected.json")
    assert [event_dict(e) for e in iter_events(trickle(data, 3))] == events


def test_adapter_style_keyword_settings() -> None:
    # carriers.adapters.csv passes the carrier's "csv" config as keywords.
    data = b"Barcode;Code;When\nABC1;DLV;2026-03-12 10:00\n"
    [event] = iter_events(
        io.BytesIO(data),
        "Europe/Paris",
        delimiter=";",
        date_format="%Y-%m-%d %H:%M",
        columns={"tracking_id": "Barcode", "carrier_code": "Code", "occurred_at": "When"},
    )
    assert event.occurred_at.isoformat() == "2026-03-12T10:00:00+01:00"
    assert event.zone_source == "partner_default"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "CSV file is empty"),
        (b"tracking_id,carrier_code\n", "header has no column 'occurred_at'"),
        (b"tracking_id,carrier_code,occurred_at\nA,,2026-01-01T00:00:00Z\n", "row 2 column 2 (carrier_code): carrier"),
        (b"tracking_id,carrier_code,occurred_at\nA,X,yesterday\n", "row 2 column 3 (occurred_at): invalid date/time"),
        (b"tracking_id,carrier_code,occurred_at\nA,X\n", "row 2: row has 2 columns"),
        (b'tracking_id,carrier_code,occurred_at\n"A,X,2026-01-01\n', "malformed CSV"),
    ],
)
def test_bad_csv_raises_edi_error(data: bytes, message: str) -> None:
    with pytest.raises(EdiError) as info:
        list(iter_events(io.BytesIO(data)))
    assert message in str(info.value)


def test_bad_mappings_are_refused() -> None:
    with pytest.raises(EdiError, match="unknown CSV mapping fields: colour"):
        CsvProfile(columns={"tracking_id": "a", "carrier_code": "b", "occurred_at": "c", "colour": "d"})
    with pytest.raises(EdiError, match="needs tracking_id"):
        CsvProfile.from_dict({"columns": {"carrier_code": "b", "occurred_at": "c"}})
    with pytest.raises(EdiError, match="unknown CSV mapping settings: sheet"):
        CsvProfile.from_dict({"sheet": 1})
    with pytest.raises(EdiError, match="unsupported encoding"):
        CsvProfile(encoding="ebcdic")


def test_write_then_read_with_a_mapping() -> None:
    events = [
        StatusEvent(
            "00340434161094012345",
            "ZU",
            datetime(2026, 3, 11, 9, 42, tzinfo=UTC),
            "NB",
            description='Zugestellt; "Müller"',
            location=Location(city="Köln", postal_code="50667", iso_country="DE"),
        )
    ]
    data = write_csv(events, _mapping())
    assert data.startswith("Sendungsnummer;Statuscode;Grund;Datum;Uhrzeit".encode("cp1252"))
    [back] = iter_events(io.BytesIO(data), profile=_mapping())
    assert back.occurred_at == events[0].occurred_at
    assert (back.description, back.location.city) == (events[0].description, "Köln")


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("x12_4010_two_groups.edi", "x12"),
        ("x12_5010_pipe_newline.edi", "x12"),
        ("iftsta_d96a.edi", "edifact"),
        ("iftsta_d07b_cp1252.edi", "edifact"),
        ("default_columns.csv", "csv"),
    ],
)
def test_detect_format(name: str, fmt: str) -> None:
    assert detect.detect_format(fixture(name)[:64]) == fmt
    assert detect.detect_format(b"\xef\xbb\xbf\r\n" + fixture(name)[:64]) == fmt


def test_detected_iter_events_reads_each_format_from_a_stream() -> None:
    assert len(list(detect.iter_events(trickle(fixture("x12_4010_two_groups.edi"), 5)))) == 9
    assert len(list(detect.iter_events(trickle(fixture("iftsta_d96a.edi"), 5)))) == 4
    mapping = json.loads((FIXTURES / "carrier_status_semicolon.mapping.json").read_text())
    assert len(list(detect.iter_events(io.BytesIO(fixture("carrier_status_semicolon.csv")), mapping))) == 3
    assert len(list(detect.iter_events(io.BytesIO(fixture("default_columns.csv"))))) == 3


def test_offsets_are_kept_from_iso_times() -> None:
    [first, *_] = iter_events(io.BytesIO(fixture("default_columns.csv")))
    assert first.occurred_at.utcoffset() == timedelta(hours=-5)
