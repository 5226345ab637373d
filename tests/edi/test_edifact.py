"""EDIFACT IFTSTA: golden files (D.96A with UNA, D.07B without), escaping, envelopes, write-read."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest

from edi.edifact.reader import iter_events, iter_transactions, validate
from edi.edifact.writer import EdifactProfile, write_iftsta, write_iftsta_stream
from edi.errors import EdiError
from edi.model import Location, StatusEvent
from tests.edi.helpers import event_dict, expected, fixture, trickle

GOLDEN = ["iftsta_d96a", "iftsta_d07b_cp1252"]


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_files_read_as_expected(name: str) -> None:
    events = [event_dict(e) for e in iter_events(io.BytesIO(fixture(f"{name}.edi")), "Europe/London")]
    assert events == expected(f"{name}.expected.json")


@pytest.mark.parametrize("name", GOLDEN)
@pytest.mark.parametrize("step", [1, 5, 64])
def test_chunk_boundaries_change_nothing(name: str, step: int) -> None:
    data = fixture(f"{name}.edi")
    whole = [event_dict(e) for e in iter_events(io.BytesIO(data), "UTC")]
    assert [event_dict(e) for e in iter_events(trickle(data, step), "UTC")] == whole


def test_release_character_escapes_are_undone() -> None:
    events = list(iter_events(io.BytesIO(fixture("iftsta_d96a.edi"))))
    assert events[0].description == "DELIVERED TO RECEPTION SIGNED 'NIELSEN' LEFT AT DOCK 3: SEE POD"
    assert events[0].references == (("CU", "ORDER+4471"),)
    assert events[-1].location.city == "AARHUS ?OST"


def test_consignment_reference_status_and_reason() -> None:
    events = list(iter_events(io.BytesIO(fixture("iftsta_d96a.edi"))))
    assert [(e.tracking_id, e.carrier_code, e.carrier_sub_code) for e in events] == [
        ("70713300012345678", "21", "Z1"),
        ("70713300012345679", "43", "Z7"),
        ("70713300012345679", "37", ""),
        ("70713300099999999", "21", ""),
    ]


def test_dtm_formats_and_zones() -> None:
    d96a = list(iter_events(io.BytesIO(fixture("iftsta_d96a.edi")), "Europe/London"))
    assert d96a[0].occurred_at == datetime(2026, 3, 10, 8, 30, tzinfo=UTC)  # 203, LOC DKCPH
    assert d96a[0].zone_source == "location"
    assert d96a[1].occurred_at.isoformat() == "2026-03-10T00:00:00+01:00"  # 102, LOC SEGOT
    assert d96a[2].location.iso_country == "SE"  # from the NAD in the status group
    assert d96a[3].zone_source == "partner_default"
    d07b = list(iter_events(io.BytesIO(fixture("iftsta_d07b_cp1252.edi")), "UTC"))
    assert d07b[0].occurred_at.isoformat() == "2026-03-11T07:45:12+01:00"  # 204
    assert d07b[0].description == "Zugestellt an Nachbar Müller"
    assert d07b[1].description == "Auftrag storniert – Kunde"


def test_message_envelope_and_parties() -> None:
    txs = list(iter_transactions(io.BytesIO(fixture("iftsta_d96a.edi"))))
    assert [(t.control_number, t.release, t.interchange_control_number) for t in txs] == [
        ("M1", "D:96A", "IC0000451"),
        ("M2", "D:96A", "IC0000451"),
    ]
    carrier = txs[0].parties[0]
    assert (carrier.role, carrier.name, carrier.city, carrier.iso_country) == (
        "CA",
        "NORDIC FREIGHT A/S",
        "KOBENHAVN",
        "DK",
    )
    d07b = list(iter_transactions(io.BytesIO(fixture("iftsta_d07b_cp1252.edi"))))
    assert d07b[0].group_control_number == "GRP1" and d07b[0].release == "D:07B"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.replace(b"UNT+18+M1", b"UNT+17+M1"), "UNT says '17' segments, the message has 18"),
        (lambda d: d.replace(b"UNT+18+M1", b"UNT+18+M9"), "UNT reference 'M9' does not match UNH 'M1'"),
        (lambda d: d.replace(b"UNZ+2+", b"UNZ+3+"), "UNZ says '3', the interchange has 2"),
        (lambda d: d.replace(b"UNZ+2+IC0000451", b"UNZ+2+IC0000452"), "UNZ reference"),
        (lambda d: d.replace(b"202603100930:203", b"202603100930:999"), "unsupported date format '999'"),
        (lambda d: d.replace(b"202603100930:203", b"2026031009:203"), "does not match format 203"),
        (lambda d: d.replace(b"CNI+2+70713300012345679", b"CNI+2"), "consignment has no reference to track it by"),
        (lambda d: d[: d.index(b"UNZ")], "interchange has no UNZ"),
    ],
)
def test_malformed_files_raise_one_precise_error(mutate, message: str) -> None:
    data = mutate(fixture("iftsta_d96a.edi"))
    with pytest.raises(EdiError) as info:
        list(iter_events(io.BytesIO(data)))
    assert message in str(info.value)
    assert validate(io.BytesIO(data))[0].message == info.value.message


def test_unt_error_names_the_segment() -> None:
    data = fixture("iftsta_d96a.edi").replace(b"UNT+18+M1", b"UNT+17+M1")
    with pytest.raises(EdiError) as info:
        list(iter_events(io.BytesIO(data)))
    assert str(info.value).startswith("segment 20 (UNT) element 1:")


def _events() -> list[StatusEvent]:
    return [
        StatusEvent(
            "CONS-1",
            "21",
            datetime(2026, 3, 10, 9, 30, tzinfo=timezone(timedelta(hours=1))),
            "Z1",
            description="Signed: 'O'Brien' + 2 boxes?",
            references=(("CU", "A+B:C"),),
            location=Location(city="HAMBURG", code="DEHAM", iso_country="DE"),
        ),
        StatusEvent(
            "CONS-1",
            "43",
            datetime(2026, 3, 10, 12, 0, 7, tzinfo=UTC),
            location=Location(city="Paris", postal_code="75001", iso_country="FR", state="IDF", name="Dépôt Nord"),
        ),
        StatusEvent("CONS-2", "64", datetime(2026, 3, 11, 6, 0, tzinfo=UTC)),
    ]


@pytest.mark.parametrize("directory", ["D:96A", "D:07B"])
def test_written_interchange_reads_back_the_same_events(directory: str) -> None:
    profile = EdifactProfile("GLUEYTRACK", "ACME", directory=directory, default_zone="America/Chicago")
    data = write_iftsta(_events(), profile, "IC77", created_at=datetime(2026, 3, 11, tzinfo=UTC))
    back = list(iter_events(io.BytesIO(data), "America/Chicago"))
    for original, read in zip(_events(), back):
        got, want = event_dict(read), event_dict(original)
        assert read.occurred_at == original.occurred_at
        for key in ("occurred_at", "zone_source"):
            got.pop(key), want.pop(key)
        assert got == want
    assert [t.release for t in iter_transactions(io.BytesIO(data))] == [directory, directory]


def test_writer_escapes_and_envelope() -> None:
    data = write_iftsta(_events(), EdifactProfile("GLUEY", "ACME"), 77, 5, created_at=datetime(2026, 3, 11, tzinfo=UTC))
    text = data.decode("iso-8859-1")
    assert text.startswith("UNA:+.? '\nUNB+UNOC:3+GLUEY:ZZ+ACME:ZZ+260311:0000+77++IFTSTA'\n")
    assert "STS+1+21:::Signed?: ?'O?'Brien?' ?+ 2 boxes??+Z1'" in text
    assert "UNH+5+IFTSTA:D:96A:UN'" in text and "UNH+6+IFTSTA:D:96A:UN'" in text
    assert text.rstrip().endswith("UNZ+2+77'")
    out = io.BytesIO()
    summary = write_iftsta_stream(_events(), EdifactProfile("G", "A", una=False), out, 1)
    assert not out.getvalue().startswith(b"UNA")
    assert (summary.transactions, summary.events, summary.last_set_control_number) == (2, 3, 2)


def test_writer_refuses_what_cannot_be_written() -> None:
    with pytest.raises(EdiError, match="directory"):
        write_iftsta(_events(), EdifactProfile("G", "A", directory="D:95Z"), 1)
    with pytest.raises(EdiError, match="cannot be written in iso-8859-1"):
        write_iftsta(
            [StatusEvent("C", "21", datetime(2026, 1, 1, tzinfo=UTC), description="€")], EdifactProfile("G", "A"), 1
        )


def _iftsta(body: list[str], *, unt: str | None = None, unz: str = "1") -> bytes:
    segments = ["UNH+1+IFTSTA:D:04A:UN", "BGM+23+REP1+9", *body]
    count = unt if unt is not None else str(len(segments) + 1)
    text = "UNB+UNOC:3+SENDER:ZZ+GLUEYTRACK:ZZ+260310:0815+77'" + "'".join(segments)
    return (text + f"'UNT+{count}+1'UNZ+{unz}+77'").encode()


@pytest.mark.parametrize(
    ("references", "tracking_id"),
    [
        (["RFF+CU:PO-7", "RFF+CN:CARRIER-1", "RFF+BM:BOL-9"], "BOL-9"),  # BM first, wherever it appears
        (["RFF+CU:PO-7", "RFF+CN:CARRIER-1"], "CARRIER-1"),
        (["RFF+CU:PO-7"], "PO-7"),
        (["GIN+BJ+00340434161094042557"], "00340434161094042557"),
        (["PCI+24+SHIPMARK 12"], "SHIPMARK 12"),
    ],
)
def test_consignment_without_document_number_is_tracked_by_its_best_reference(references, tracking_id) -> None:
    body = ["CNI+1", "STS+1+21", "DTM+334:202603100930:203", *references]
    [ev] = list(iter_events(io.BytesIO(_iftsta(body)), "UTC"))
    assert ev.tracking_id == tracking_id and ev.carrier_code == "21"


def test_padded_values_and_zero_padded_counts_are_read() -> None:
    body = ["CNI+1+70713300012345678   ", "STS+1+21  +Z1 ", "DTM+334:202603100930:203", "LOC+175+DEHAM "]
    data = _iftsta(body, unt="000007", unz="0001")
    [ev] = list(iter_events(io.BytesIO(data), "UTC"))
    assert (ev.tracking_id, ev.carrier_code, ev.carrier_sub_code) == ("70713300012345678", "21", "Z1")
    assert ev.location.code == "DEHAM" and ev.occurred_at.utcoffset() == timedelta(hours=1)


def test_loc_with_a_country_gives_the_events_zone() -> None:
    body = ["CNI+1+C1", "STS+1+21", "DTM+334:202607100930:203", "LOC+175+:::OSAKA+JP:162"]
    [ev] = list(iter_events(io.BytesIO(_iftsta(body)), "UTC"))
    assert ev.location.iso_country == "JP" and ev.zone_source == "location"
    assert ev.occurred_at.utcoffset() == timedelta(hours=9)
