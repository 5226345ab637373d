"""X12 214 writing: envelope layout, control numbers, counts, and read-back."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest

from edi.errors import EdiError
from edi.model import Location, StatusEvent
from edi.x12.reader import iter_events, iter_transactions, validate
from edi.x12.writer import X12Profile, write_x12_214, write_x12_214_stream
from tests.edi.helpers import event_dict

CREATED = datetime(2026, 3, 4, 14, 12, tzinfo=UTC)
CST = timezone(timedelta(hours=-6))


def _events() -> list[StatusEvent]:
    return [
        StatusEvent(
            "7741002231",
            "X3",
            datetime(2026, 3, 2, 8, 15, tzinfo=CST),
            "NS",
            location=Location(city="CHICAGO", state="IL", iso_country="US"),
            references=(("BM", "BOL-88812"), ("PO", "PO-553201")),
            scac="ODFL",
            shipper_id="BOL-88812",
            description="DRIVER AT DOCK 5 WAITING FOR PAPERWORK FROM SHIPPER",
            weight=1250.0,
            weight_unit="L",
            quantity=4,
            meta=(("equipment", "TRL48812"),),
        ),
        StatusEvent(
            "7741002231",
            "AF",
            datetime(2026, 3, 2, 11, 40, 30, tzinfo=CST),
            "NS",
            scac="ODFL",
            shipper_id="BOL-88812",
            meta=(("lading_exception", "A3"),),
        ),
        StatusEvent("7741002232", "D1", datetime(2026, 3, 4, 10, 32, tzinfo=UTC), "NS", scac="ODFL"),
        StatusEvent(
            "7741002233",
            "AH",
            datetime(2026, 3, 4, 10, 32, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "A7",
            scac="ODFL",
        ),
    ]


@pytest.mark.parametrize("release", ["4010", "5010"])
def test_written_interchange_reads_back_the_same_events(release: str) -> None:
    events = _events()
    data = write_x12_214(events, X12Profile("GLUEYTRACK", "ACMECORP", release=release), 17, 42, 9, created_at=CREATED)
    assert validate(io.BytesIO(data)) == []
    back = list(iter_events(io.BytesIO(data), "UTC"))
    assert len(back) == len(events)
    for original, read in zip(events[:3], back[:3]):
        got, want = event_dict(read), event_dict(original)
        assert got == {**want, "zone_source": "explicit"}
    # +05:30 has no X12 time code: written in UTC, the instant survives.
    assert back[3].occurred_at == events[3].occurred_at
    assert back[3].occurred_at.utcoffset() == timedelta(0)


def test_isa_is_fixed_width_and_envelope_counts_are_right() -> None:
    profile = X12Profile(
        "GLUEY",
        "ACME",
        sender_qualifier="01",
        receiver_qualifier="ZZ",
        gs_sender_id="GLUEYGS",
        gs_receiver_id="ACMEGS",
        release="5010",
        test=True,
    )
    data = write_x12_214(_events(), profile, 17, 42, 9, created_at=CREATED).decode()
    isa = data.split("~")[0]
    assert len(isa) == 105 and data[105] == "~"
    fields = isa.split("*")
    assert fields[6] == "GLUEY".ljust(15) and fields[8] == "ACME".ljust(15)
    assert fields[9:16] == ["260304", "1412", "^", "00501", "000000017", "0", "T"]
    assert fields[16] == ">"
    segs = [s.strip().split("*") for s in data.split("~") if s.strip()]
    gs = segs[1]
    assert gs == ["GS", "QM", "GLUEYGS", "ACMEGS", "20260304", "1412", "42", "X", "005010"]
    sts = [s for s in segs if s[0] == "ST"]
    assert [s[2] for s in sts] == ["0009", "0010", "0011"]  # first set control number given by the caller
    assert segs[-2] == ["GE", "3", "42"] and segs[-1] == ["IEA", "1", "000000017"]


def test_4010_uses_u_in_isa11_and_custom_delimiters() -> None:
    profile = X12Profile(
        "GLUEY", "ACME", element_separator="|", component_separator=":", segment_terminator="\n", newline=False
    )
    data = write_x12_214(_events(), profile, 1, 1, created_at=CREATED).decode()
    isa = data.split("\n")[0].split("|")
    assert isa[11:13] == ["U", "00401"]
    assert [e.carrier_code for e in iter_events(io.BytesIO(data.encode()))] == ["X3", "AF", "D1", "AH"]


def test_one_set_per_shipment_and_one_lx_per_event() -> None:
    data = write_x12_214(_events(), X12Profile("A", "B"), 1, 1, created_at=CREATED)
    txs = list(iter_transactions(io.BytesIO(data)))
    assert [(t.tracking_id, len(t.events)) for t in txs] == [("7741002231", 2), ("7741002232", 1), ("7741002233", 1)]
    assert b"LX*2~" in data and b"K1*DRIVER AT DOCK 5 WAITING FOR*PAPERWORK FROM SHIPPER~" in data


def test_delimiters_inside_values_become_spaces() -> None:
    ev = StatusEvent("PRO*1", "X1", CREATED, description="A~B*C>D")
    data = write_x12_214([ev], X12Profile("A", "B"), 1, 1, created_at=CREATED)
    back = next(iter_events(io.BytesIO(data)))
    assert back.tracking_id == "PRO 1" and back.description == "A B C D"


def test_streaming_writer_reports_what_it_wrote() -> None:
    out = io.BytesIO()
    summary = write_x12_214_stream(iter(_events()), X12Profile("A", "B"), out, 5, 6, 100, created_at=CREATED)
    assert (summary.transactions, summary.events, summary.last_set_control_number) == (3, 4, 102)
    empty = write_x12_214([], X12Profile("A", "B"), 5, 6, created_at=CREATED)
    assert empty.decode().splitlines()[-1] == "IEA*0*000000005~"


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (X12Profile("A", "B", release="3060"), "unsupported X12 release"),
        (X12Profile("A", "B", element_separator="~"), "delimiters must be distinct"),
        (X12Profile("A" * 16, "B"), "sender_id must be 1-15"),
    ],
)
def test_bad_profiles_are_refused(profile: X12Profile, message: str) -> None:
    with pytest.raises(EdiError, match=message):
        write_x12_214(_events(), profile, 1, 1)


def test_naive_times_and_bad_control_numbers_are_refused() -> None:
    with pytest.raises(EdiError, match="naive"):
        write_x12_214([StatusEvent("P", "X1", datetime(2026, 1, 1))], X12Profile("A", "B"), 1, 1)
    with pytest.raises(EdiError, match="interchange control number"):
        write_x12_214(_events(), X12Profile("A", "B"), 1_000_000_000, 1)
