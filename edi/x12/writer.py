"""Write X12 214 interchanges from neutral events.

Public API::

    X12Profile(sender_id, receiver_id, sender_qualifier="ZZ", receiver_qualifier="ZZ",
               gs_sender_id="", gs_receiver_id="", release="4010" | "5010",
               element_separator="*", component_separator=">", segment_terminator="~",
               repetition_separator="^", test=False, newline=True, encoding="utf-8",
               default_scac="")
    write_x12_214(events, profile, interchange_control_number, group_control_number,
                  first_set_control_number=1, *, created_at=None) -> bytes
    write_x12_214_stream(events, profile, fileobj, interchange_control_number,
                         group_control_number, first_set_control_number=1, *,
                         created_at=None) -> WriteSummary

One interchange with one functional group (QM); consecutive events with the
same (tracking id, shipper id, SCAC) share a transaction set, one LX loop per
event. Control numbers are the caller's, so a retried export can reproduce
the same bytes; pass ``created_at`` for the same reason. X12 has no escape
character, so delimiter characters inside values are written as spaces.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timezone, tzinfo
from math import isfinite
from typing import IO

from edi.errors import EdiError
from edi.model import StatusEvent
from edi.x12.timecodes import code_for_datetime

RELEASES = {"4010": ("00401", "004010"), "5010": ("00501", "005010")}
_FLUSH_AT = 1 << 16


@dataclass(frozen=True, slots=True)
class X12Profile:
    """What a trading partner expects in the envelope."""

    sender_id: str
    receiver_id: str
    sender_qualifier: str = "ZZ"
    receiver_qualifier: str = "ZZ"
    gs_sender_id: str = ""
    gs_receiver_id: str = ""
    release: str = "4010"
    element_separator: str = "*"
    component_separator: str = ">"
    segment_terminator: str = "~"
    repetition_separator: str = "^"
    test: bool = False
    # A newline after each terminator: easier to read, and every reader copes.
    newline: bool = True
    encoding: str = "utf-8"
    default_scac: str = ""


@dataclass(frozen=True, slots=True)
class WriteSummary:
    transactions: int
    events: int
    last_set_control_number: int | None


def check_profile(p: X12Profile) -> None:
    if p.release not in RELEASES:
        raise EdiError(f"unsupported X12 release {p.release!r} (use 4010 or 5010)")
    delims = [p.element_separator, p.component_separator, p.segment_terminator]
    if p.release == "5010":
        delims.append(p.repetition_separator)
    if any(len(d) != 1 or d.isalnum() or d == " " for d in delims) or len(set(delims)) != len(delims):
        raise EdiError("delimiters must be distinct single non-alphanumeric characters")
    for name, value, width in (
        ("sender_id", p.sender_id, 15),
        ("receiver_id", p.receiver_id, 15),
        ("sender_qualifier", p.sender_qualifier, 2),
        ("receiver_qualifier", p.receiver_qualifier, 2),
    ):
        if not value or len(value) > width:
            raise EdiError(f"profile {name} must be 1-{width} characters")


def _fmt_number(value: float) -> str:
    if not isfinite(value):
        raise EdiError(f"weight {value!r} cannot be written")
    if value == int(value):
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


class _Writer:
    def __init__(self, profile: X12Profile, fileobj: IO[bytes]) -> None:
        check_profile(profile)
        self.p = profile
        self.out = fileobj
        self.sep = profile.element_separator
        self.term = profile.segment_terminator
        self.component = profile.component_separator
        self.repetition = profile.repetition_separator if profile.release == "5010" else None
        self.newline = profile.newline and profile.segment_terminator != "\n"
        self.end = profile.segment_terminator + ("\n" if self.newline else "")
        bad = {profile.element_separator, profile.component_separator, profile.segment_terminator, "\r", "\n"}
        if profile.release == "5010":
            bad.add(profile.repetition_separator)
        self.bad = frozenset(bad)
        self.table = str.maketrans({c: " " for c in bad})
        self.buf: list[str] = []
        self.size = 0
        self.tcodes: dict[tzinfo, str] = {}

    def seg(self, *elements: str) -> None:
        values = list(elements)
        while len(values) > 1 and values[-1] == "":
            values.pop()
        self.buf.append(self.sep.join(values) + self.end)

    def flush(self) -> None:
        if self.buf:
            try:
                self.out.write("".join(self.buf).encode(self.p.encoding))
            except UnicodeEncodeError as exc:
                raise EdiError(
                    f"a value cannot be written in {self.p.encoding}: {exc.object[exc.start : exc.end]!r}"
                ) from None
            self.buf = []

    def clean(self, value: str) -> str:
        return value.translate(self.table) if value else ""

    def event_segments(self, index: int, ev: StatusEvent) -> int:
        """Append one event's LX loop; return how many segments it took.

        The loop is built as is, then its delimiters are counted in C: any
        extra one means a value carried a delimiter, and only then is the
        loop rebuilt with every value cleaned. Cheaper than inspecting each
        value on the way in, since almost none ever need it.
        """
        text, n, seps = self._loop_text(index, ev, False)
        if (
            text.count(self.sep) != seps
            or text.count(self.term) != n
            or self.component in text
            or (self.repetition is not None and self.repetition in text)
            or "\r" in text
            or (self.newline and text.count("\n") != n)
        ):
            text, n, seps = self._loop_text(index, ev, True)
        self.buf.append(text)
        return n

    def _loop_text(self, index: int, ev: StatusEvent, dirty: bool) -> tuple[str, int, int]:
        """(the LX loop's text, its segment count, its element separator count)."""
        when = ev.occurred_at
        tzinfo = when.tzinfo
        # Fixed-offset zones (what exports and most readers produce) map to
        # one time code for good; zones with DST are worked out per event.
        tcode = self.tcodes.get(tzinfo) if type(tzinfo) is timezone else None
        if tcode is None:
            if tzinfo is None or when.utcoffset() is None:
                raise EdiError(f"event for {ev.tracking_id!r} has a naive occurred_at")
            when, tcode = code_for_datetime(when)
            if type(tzinfo) is timezone and when.tzinfo is tzinfo:
                self.tcodes[tzinfo] = tcode
        iso = when.isoformat()  # CCYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM, sliced below
        if when.second or when.microsecond:
            t = iso[11:13] + iso[14:16] + iso[17:19]
            if when.microsecond:
                t += iso[20:22]
        else:
            t = iso[11:13] + iso[14:16]
        loc = ev.location
        code, sub, city, state, country = ev.carrier_code, ev.carrier_sub_code, loc.city, loc.state, loc.iso_country
        desc, scac = ev.description, ev.scac
        clean = self.clean
        if dirty:
            code, sub, city, state, country, desc, scac = (
                clean(code),
                clean(sub),
                clean(city),
                clean(state),
                clean(country),
                clean(desc),
                clean(scac),
            )
        sep, end = self.sep, self.end
        out = [
            (
                f"LX{sep}{index}{end}AT7{sep}{code}{sep}{sub}{sep}{sep}{sep}"
                f"{iso[0:4]}{iso[5:7]}{iso[8:10]}{sep}{t}{sep}{tcode}{end}"
            )
        ]
        n, seps = 2, 8
        if city or state or country:
            if country:
                out.append(f"MS1{sep}{city}{sep}{state}{sep}{country}{end}")
                seps += 3
            elif state:
                out.append(f"MS1{sep}{city}{sep}{state}{end}")
                seps += 2
            else:
                out.append(f"MS1{sep}{city}{end}")
                seps += 1
            n += 1
        meta = ev.meta
        if meta:
            for key, value in meta:
                if key == "equipment":
                    out.append(f"MS2{sep}{scac}{sep}{clean(value) if dirty else value}{end}")
                    n += 1
                    seps += 2
        for qualifier, value in ev.references:
            if value:
                if dirty:
                    value, qualifier = clean(value), clean(qualifier)
                out.append(f"L11{sep}{value}{sep}{qualifier}{end}")
                n += 1
                seps += 2
        if meta:
            for key, value in meta:
                if key == "lading_exception":
                    out.append(f"Q7{sep}{clean(value) if dirty else value}{end}")
                    n += 1
                    seps += 1
        if desc:
            if len(desc) <= 30:
                out.append(f"K1{sep}{desc}{end}")
                n += 1
                seps += 1
            else:
                pieces = textwrap.wrap(desc, 30, break_on_hyphens=False) or [""]
                for i in range(0, len(pieces), 2):
                    pair = pieces[i : i + 2]
                    out.append(f"K1{sep}{sep.join(pair)}{end}")
                    n += 1
                    seps += len(pair)
        if ev.weight is not None or ev.quantity is not None:
            unit = ev.weight_unit if ev.weight_unit in ("K", "L") else "K"
            weight = _fmt_number(ev.weight) if ev.weight is not None else ""
            if ev.quantity is not None:
                out.append(f"AT8{sep}G{sep}{unit}{sep}{weight}{sep}{ev.quantity}{end}")
                seps += 4
            else:
                out.append(f"AT8{sep}G{sep}{unit}{sep}{weight}{end}")
                seps += 3
            n += 1
        return "".join(out), n, seps


def write_x12_214_stream(
    events: Iterable[StatusEvent],
    profile: X12Profile,
    fileobj: IO[bytes],
    interchange_control_number: int,
    group_control_number: int,
    first_set_control_number: int = 1,
    *,
    created_at: datetime | None = None,
) -> WriteSummary:
    """Write one 214 interchange to ``fileobj`` as the events arrive."""
    if not 0 <= interchange_control_number <= 999_999_999:
        raise EdiError("interchange control number must be 0-999999999")
    if not 1 <= group_control_number <= 999_999_999:
        raise EdiError("group control number must be 1-999999999")
    if not 1 <= first_set_control_number:
        raise EdiError("set control numbers start at 1")
    w = _Writer(profile, fileobj)
    p = profile
    isa12, gs08 = RELEASES[p.release]
    now = created_at or datetime.now(UTC)
    isa11 = p.repetition_separator if p.release == "5010" else "U"
    w.seg(
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        p.sender_qualifier.ljust(2),
        w.clean(p.sender_id).ljust(15),
        p.receiver_qualifier.ljust(2),
        w.clean(p.receiver_id).ljust(15),
        now.strftime("%y%m%d"),
        now.strftime("%H%M"),
        isa11,
        isa12,
        f"{interchange_control_number:09d}",
        "0",
        "T" if p.test else "P",
        p.component_separator,
    )
    sets = n_events = 0
    set_no = first_set_control_number - 1
    key: tuple[str, str, str] | None = None
    count = index = 0
    control = ""
    for ev in events:
        scac = ev.scac or p.default_scac
        k = (ev.tracking_id, ev.shipper_id, scac)
        if k != key:
            if key is not None:
                w.seg("SE", str(count + 1), control)
            else:
                w.seg(
                    "GS",
                    "QM",
                    w.clean(p.gs_sender_id or p.sender_id),
                    w.clean(p.gs_receiver_id or p.receiver_id),
                    now.strftime("%Y%m%d"),
                    now.strftime("%H%M"),
                    str(group_control_number),
                    "X",
                    gs08,
                )
            if not ev.tracking_id:
                raise EdiError("event has no tracking id")
            key = k
            set_no += 1
            sets += 1
            control = f"{set_no:04d}"
            if len(control) > 9:
                raise EdiError("set control number exceeds 9 digits")
            tracking, shipper, b10_scac = ev.tracking_id, ev.shipper_id, scac
            if not w.bad.isdisjoint(tracking + shipper + b10_scac):
                tracking, shipper, b10_scac = w.clean(tracking), w.clean(shipper), w.clean(b10_scac)
            b10 = f"B10{w.sep}{tracking}{w.sep}{shipper}{w.sep}{b10_scac}".rstrip(w.sep)
            w.buf.append(f"ST{w.sep}214{w.sep}{control}{w.end}{b10}{w.end}")
            count, index = 2, 0
        index += 1
        n_events += 1
        count += w.event_segments(index, ev)
        if len(w.buf) > 2048:
            w.flush()
    if key is not None:
        w.seg("SE", str(count + 1), control)
        w.seg("GE", str(sets), str(group_control_number))
    w.seg("IEA", "1" if key is not None else "0", f"{interchange_control_number:09d}")
    w.flush()
    return WriteSummary(sets, n_events, set_no if sets else None)


def write_x12_214(
    events: Iterable[StatusEvent],
    profile: X12Profile,
    interchange_control_number: int,
    group_control_number: int,
    first_set_control_number: int = 1,
    *,
    created_at: datetime | None = None,
) -> bytes:
    """The whole interchange as bytes (for small exports and tests)."""
    out = io.BytesIO()
    write_x12_214_stream(
        events,
        profile,
        out,
        interchange_control_number,
        group_control_number,
        first_set_control_number,
        created_at=created_at,
    )
    return out.getvalue()
