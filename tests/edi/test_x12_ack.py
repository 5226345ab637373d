"""Envelope validation and the 997 functional acknowledgments it produces."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from edi.errors import EdiError
from edi.x12.ack import build_997
from edi.x12.reader import validate
from tests.edi.helpers import fixture

CREATED = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)


def _segments(data: bytes) -> list[list[str]]:
    text = data.decode()
    return [s.strip().split(text[3]) for s in text.split(text[105]) if s.strip()]


def test_valid_file_has_no_problems() -> None:
    assert validate(io.BytesIO(fixture("x12_4010_two_groups.edi"))) == []


def test_validate_lists_every_envelope_problem() -> None:
    problems = [
        (p.segment_number, p.segment_id, p.element, p.ack)
        for p in validate(io.BytesIO(fixture("x12_5010_envelope_errors.edi")))
    ]
    assert problems == [
        (13, "SE", 2, ("AK5", "3")),
        (17, "AT7", 5, ("AK4", "8")),
        (22, "AT7", 7, ("AK4", "7")),
        (26, "zz1", None, ("AK3", "1")),
        (30, "GE", 1, ("AK9", "5")),
        (37, "GE", 2, ("AK9", "4")),
        (38, "IEA", 1, ("TA1", "021")),
        (38, "IEA", 2, ("TA1", "001")),
    ]


def test_997_for_envelope_errors_matches_golden_file() -> None:
    ack = build_997(
        io.BytesIO(fixture("x12_5010_envelope_errors.edi")),
        interchange_control_number=901,
        group_control_number=901,
        created_at=CREATED,
    )
    assert ack == fixture("x12_5010_envelope_errors.997")


def test_997_codes_per_set_and_group() -> None:
    segs = _segments(build_997(io.BytesIO(fixture("x12_5010_envelope_errors.edi")), created_at=CREATED))
    by_set: dict[str, list[list[str]]] = {}
    current = ""
    for seg in segs:
        if seg[0] == "AK2":
            current = seg[2]
        if seg[0] in ("AK2", "AK3", "AK4", "AK5"):
            by_set.setdefault(current, []).append(seg)
    assert by_set["1001"][-1] == ["AK5", "A"]
    assert by_set["1002"][-1] == ["AK5", "R", "3"]  # SE02 does not match ST02
    assert ["AK3", "AT7", "4", "", "8"] in by_set["1003"]  # segment has data element errors
    assert ["AK4", "5", "", "8", "20260231"] in by_set["1003"]  # invalid date
    assert ["AK4", "7", "", "7", "XX"] in by_set["1004"]  # invalid code value
    assert by_set["1005"][-1] == ["AK5", "E", "5"]  # accepted with errors
    ak9 = [s for s in segs if s[0] == "AK9"]
    assert ak9 == [["AK9", "R", "4", "5", "2", "5"], ["AK9", "R", "1", "1", "1", "4"]]


def test_997_envelope_is_addressed_back_to_the_sender() -> None:
    segs = _segments(
        build_997(
            io.BytesIO(fixture("x12_4010_two_groups.edi")),
            interchange_control_number=42,
            group_control_number=7,
            created_at=CREATED,
        )
    )
    isa, gs = segs[0], segs[1]
    assert (isa[5], isa[6].strip(), isa[7], isa[8].strip()) == ("ZZ", "GLUEYTRACK", "02", "ODFL")
    assert isa[12] == "00401" and isa[13] == "000000042"
    assert gs[1:4] == ["FA", "GLUEYTRACK", "ODFL"] and gs[6] == "7" and gs[8] == "004010"
    assert [s for s in segs if s[0] == "AK9"] == [["AK9", "A", "2", "2", "2"], ["AK9", "A", "1", "1", "1"]]
    assert [s[0] for s in segs if s[0] == "ST"] == ["ST", "ST"]
    # SE counts of the 997 itself are right.
    count = 0
    for seg in segs:
        if seg[0] == "ST":
            count = 1
        elif seg[0] == "SE":
            count += 1
            assert seg[1] == str(count)
        else:
            count += 1
    assert segs[-2] == ["GE", "2", "7"]


def test_997_rejects_a_set_without_trailer_and_a_group_without_ge() -> None:
    data = fixture("x12_4010_two_groups.edi").replace(b"SE*12*0101~\r\nGE*1*382~\r\n", b"")
    segs = _segments(build_997(io.BytesIO(data), created_at=CREATED))
    assert ["AK5", "R", "2"] in segs  # transaction set trailer missing
    assert ["AK9", "R", "1", "1", "0", "3"] in segs  # functional group trailer missing


def test_997_needs_a_readable_interchange() -> None:
    with pytest.raises(EdiError, match="does not start with ISA"):
        build_997(io.BytesIO(b"hello"))
