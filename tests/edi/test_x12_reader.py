"""X12 214 reading: golden files in every delimiter and terminator variant."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from edi.errors import EdiError
from edi.x12.reader import iter_events, iter_transactions, validate
from tests.edi.helpers import event_dict, expected, fixture, trickle

GOLDEN = [
    ("x12_4010_two_groups", "America/Denver"),
    ("x12_5010_pipe_newline", "America/New_York"),
    ("x12_4010_wrapped80", "America/New_York"),
    ("x12_4010_caret_padded", "UTC"),
    ("x12_4010_cp1252", "America/Toronto"),
]


@pytest.mark.parametrize(("name", "zone"), GOLDEN)
def test_golden_files_read_as_expected(name: str, zone: str) -> None:
    events = [event_dict(e) for e in iter_events(io.BytesIO(fixture(f"{name}.edi")), zone)]
    assert events == expected(f"{name}.expected.json")


@pytest.mark.parametrize(("name", "zone"), GOLDEN)
def test_chunk_boundaries_anywhere_change_nothing(name: str, zone: str) -> None:
    data = fixture(f"{name}.edi")
    whole = [event_dict(e) for e in iter_events(io.BytesIO(data), zone)]
    for step in (1, 7, 64):
        assert [event_dict(e) for e in iter_events(trickle(data, step), zone)] == whole


def test_two_groups_several_sets_and_loops() -> None:
    txs = list(iter_transactions(io.BytesIO(fixture("x12_4010_two_groups.edi")), "America/Denver"))
    assert [(t.group_control_number, t.control_number, len(t.events)) for t in txs] == [
        ("381", "0001", 3),
        ("381", "0002", 2),
        ("382", "0101", 4),
    ]
    first = txs[0]
    assert (first.tracking_id, first.shipper_id, first.scac) == ("7741002231", "BOL-88812", "ODFL")
    assert first.release == "004010"
    assert [(p.role, p.name, p.city, p.iso_country) for p in first.parties] == [
        ("SH", "ACME MANUFACTURING INC", "CHICAGO", "US"),
        ("CN", "WIDGET DISTRIBUTION LLC", "DALLAS", "US"),
    ]
    assert first.parties[0].address == ("1200 INDUSTRIAL PKWY", "BLDG 4")


def test_time_codes_and_zone_sources() -> None:
    events = list(iter_events(io.BytesIO(fixture("x12_4010_two_groups.edi")), "America/Denver"))
    by_code = {(e.tracking_id, e.carrier_code): e for e in events}
    # LT at a place: the place's zone (Chicago in March is CST).
    x3 = by_code[("7741002231", "X3")]
    assert x3.zone_source == "location"
    assert x3.occurred_at.utcoffset() == timedelta(hours=-6)
    # CT is prevailing central time; ES is fixed Eastern standard.
    assert by_code[("7741002231", "AF")].occurred_at == datetime(2026, 3, 2, 17, 40, tzinfo=UTC)
    assert by_code[("7741002232", "D1")].occurred_at.utcoffset() == timedelta(hours=-5)
    # 05 is UTC+5 and 14 is UTC-11 (X12 writes + and - as P and M codes).
    assert by_code[("7741002240", "SD")].occurred_at.utcoffset() == timedelta(hours=5)
    assert by_code[("7741002240", "CA")].occurred_at.utcoffset() == timedelta(hours=-11)


def test_local_time_without_a_place_uses_the_partner_zone() -> None:
    data = fixture("x12_4010_two_groups.edi").replace(b"MS1*SPRINGFIELD*MO*US~\r\n", b"")
    data = data.replace(b"SE*24*0001", b"SE*23*0001")
    x6 = next(e for e in iter_events(io.BytesIO(data), "Asia/Tokyo") if e.carrier_code == "X6")
    assert x6.zone_source == "partner_default"
    assert x6.occurred_at.utcoffset() == timedelta(hours=9)


def test_appointment_only_at7_is_not_an_event() -> None:
    events = list(iter_events(io.BytesIO(fixture("x12_4010_two_groups.edi")), "UTC"))
    assert "" not in {e.carrier_code for e in events}
    assert [e.carrier_code for e in events if e.tracking_id == "7741002232"] == ["AH", "D1"]


def test_loop_segments_apply_to_every_status_of_the_loop() -> None:
    events = list(iter_events(io.BytesIO(fixture("x12_4010_two_groups.edi")), "UTC"))
    x1, d1 = [e for e in events if e.tracking_id == "7741002240"][:2]
    assert (x1.carrier_code, d1.carrier_code) == ("X1", "D1")
    # The MS1 after the second AT7 belongs to that AT7 only.
    assert x1.location.city == "" and d1.location.city == "PHOENIX"


def test_windows_1252_text_is_decoded() -> None:
    events = list(iter_events(io.BytesIO(fixture("x12_4010_cp1252.edi")), "UTC"))
    assert events[0].location.city == "MONTRÉAL"
    assert events[1].description == "REFUSÉ – FRAIS 120€ DUS"
    assert events[1].location.city == "ST. JOHN’S"


def test_explicit_encoding_is_honoured() -> None:
    data = fixture("x12_4010_cp1252.edi")
    latin = list(iter_events(io.BytesIO(data), "UTC", encoding="iso-8859-1"))
    assert latin[0].location.city == "MONTRÉAL"  # same byte in both code pages
    with pytest.raises(EdiError, match="not valid UTF-8"):
        list(iter_events(io.BytesIO(data), "UTC", encoding="utf-8"))


def test_estimated_delivery_is_an_estimate_reported_at_the_group_time() -> None:
    ag = list(iter_events(io.BytesIO(fixture("x12_4010_wrapped80.edi")), "UTC"))[-1]
    assert ag.carrier_code == "AG" and ag.estimate
    # The AT7 date is the forecast (the ETA), never the event time; the event is when the group was created.
    assert ag.eta is not None and ag.eta.replace(tzinfo=None).isoformat() == "2026-03-09T17:00:00"
    assert ag.occurred_at != ag.eta and ag.occurred_at.tzinfo is not None


def test_repetition_separator_read_from_isa11_on_5010() -> None:
    from edi.x12.tokenizer import detect_delimiters

    assert detect_delimiters(fixture("x12_5010_pipe_newline.edi").decode()).repetition == "^"
    assert detect_delimiters(fixture("x12_4010_two_groups.edi").decode()).repetition is None
    d = detect_delimiters(fixture("x12_5010_pipe_newline.edi").decode())
    assert (d.element, d.component, d.segment) == ("|", ":", "\n")


def test_other_transaction_sets_are_skipped() -> None:
    data = fixture("x12_4010_two_groups.edi").replace(b"ST*214*0101", b"ST*210*0101")
    assert [t.control_number for t in iter_transactions(io.BytesIO(data))] == ["0001", "0002"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.replace(b"*CT~", b"*XX~"), "segment 19 (AT7) element 7: unknown time code 'XX'"),
        (
            lambda d: d.replace(b"20260302*0815", b"20260230*0815"),
            "segment 15 (AT7) element 5: invalid date '20260230'",
        ),
        (lambda d: d.replace(b"20260302*0815", b"20260302*2575"), "segment 15 (AT7) element 6: invalid time '2575'"),
        (lambda d: d.replace(b"SE*24*0001", b"SE*25*0001"), "SE01 says '25' segments, the set has 24"),
        (lambda d: d.replace(b"SE*24*0001", b"SE*24*0009"), "SE02 '0009' does not match ST02 '0001'"),
        (lambda d: d.replace(b"GE*2*381", b"GE*3*381"), "GE01 says '3' transaction sets, the group has 2"),
        (lambda d: d.replace(b"GE*2*381", b"GE*2*380"), "GE02 '380' does not match GS06 '381'"),
        (lambda d: d.replace(b"IEA*2*", b"IEA*1*"), "IEA01 says '1' groups, the interchange has 2"),
        (lambda d: d.replace(b"IEA*2*000004711", b"IEA*2*000004712"), "IEA02 '000004712' does not match ISA13"),
        (lambda d: d.replace(b"AT8*G*L*1250*4", b"AT8*G*L*12,50*4"), "segment 21 (AT8) element 3: AT8 weight"),
        (lambda d: d.replace(b"B10*7741002231*BOL-88812*ODFL", b"B10***ODFL"), "B10 has neither a PRO number"),
        (lambda d: d[: d.index(b"IEA")], "interchange has no IEA trailer"),
    ],
)
def test_malformed_files_raise_one_precise_error(mutate, message: str) -> None:
    with pytest.raises(EdiError) as info:
        list(iter_events(io.BytesIO(mutate(fixture("x12_4010_two_groups.edi"))), "UTC"))
    assert message in str(info.value)


def test_not_x12_at_all() -> None:
    with pytest.raises(EdiError, match="does not start with ISA"):
        list(iter_events(io.BytesIO(b"UNB+UNOC:3+X+Y'")))
    with pytest.raises(EdiError, match="empty"):
        list(iter_events(io.BytesIO(b"  \r\n")))


def test_error_string_names_segment_and_element() -> None:
    err = EdiError("unknown time code 'XX'", 12, "AT7", 7)
    assert str(err) == "segment 12 (AT7) element 7: unknown time code 'XX'"
    assert str(EdiError("row too short", 4, "Datum", 3, unit="row")) == "row 4 column 3 (Datum): row too short"


def _one_set(body: list[str], *, ge01: str = "1", iea01: str = "1", se02: str = "0001") -> bytes:
    """A 4010 interchange around one 214 body (segments without terminators)."""
    segments = [
        "ISA*00*          *00*          *02*SAIA           *ZZ*GLUEYTRACK     *260304*1412*U*00401*000000077*0*P*>",
        "GS*QM*SAIA*GLUEYTRACK*20260304*1412*0077*X*004010",
        "ST*214*0001",
        *body,
        f"SE*{len(body) + 2}*{se02}",
        f"GE*{ge01}*0077",
        f"IEA*{iea01}*000000077",
    ]
    return ("~\n".join(segments) + "~\n").encode()


_BODY = ["B10*1234567*BOL1*SAIA", "LX*1", "AT7*X6*NS***20260303*0605*ET", "MS1*ATLANTA*GA*US"]


def test_numeric_envelope_fields_compare_as_numbers() -> None:
    """GE01 000001, IEA01 00001 and a zero-padded SE02 say the same as 1 and 0001: the file is read."""
    data = _one_set(_BODY, ge01="000001", iea01="00001", se02="000001")
    [ev] = list(iter_events(io.BytesIO(data), "UTC"))
    assert ev.tracking_id == "1234567"
    assert validate(io.BytesIO(data)) == []
    with pytest.raises(EdiError, match="GE01 says '000002'"):
        list(iter_events(io.BytesIO(_one_set(_BODY, ge01="000002")), "UTC"))


def test_padded_identifiers_and_codes_are_trimmed() -> None:
    body = [
        "B10*4343638097845589              *  BOL-7  *SAIA ",
        "L11*  PO-1 *PO ",
        "LX*1",
        "AT7*D1 *NS ***20260303*1605*ET",
        "MS1* ATLANTA *GA*US ",
    ]
    [ev] = list(iter_events(io.BytesIO(_one_set(body)), "UTC"))
    assert (ev.tracking_id, ev.shipper_id, ev.scac) == ("4343638097845589", "BOL-7", "SAIA")
    assert (ev.carrier_code, ev.carrier_sub_code) == ("D1", "NS")
    assert ev.references == (("PO", "PO-1"),)
    assert (ev.location.city, ev.location.iso_country) == ("ATLANTA", "US")


def test_ms1_coordinates_become_the_events_point_and_its_zone() -> None:
    """MS1-04/05 are (D)DDMMSS with MS1-06 E/W and MS1-07 N/S; MS1-09/10 decimal degrees (5010)."""
    body = [
        "B10*1234567*BOL1*SAIA",
        "LX*1",
        "AT7*X1*NS***20260303*0605",
        "MS1****0874200*0415300*W*N",
        "LX*2",
        "AT7*X1*NS***20260304*0605",
        "MS1*BERLIN**DE******13.4050*52.5200",
    ]
    first, second = list(iter_events(io.BytesIO(_one_set(body)), "UTC"))
    assert first.location.lat == pytest.approx(41.883333) and first.location.lng == pytest.approx(-87.7)
    # No city or country, only the point: the zone comes from the coordinates (Chicago, CST in March).
    assert first.zone_source == "coordinates" and first.occurred_at.utcoffset() == timedelta(hours=-6)
    assert (second.location.lat, second.location.lng) == (52.52, 13.405)
    assert second.zone_source == "coordinates" and second.occurred_at.utcoffset() == timedelta(hours=1)
