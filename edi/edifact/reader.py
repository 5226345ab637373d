"""Read UN/EDIFACT IFTSTA (international multimodal status report) files.

Public API::

    iter_transactions(fileobj, default_zone="UTC", *, encoding=None) -> Iterator[Transaction]
    iter_events(fileobj, default_zone="UTC", *, encoding=None) -> Iterator[StatusEvent]
    validate(fileobj, *, encoding=None) -> list[EdiError]

Works for the directories seen in practice (D.96A through D.07B and later):
the segments used keep their positions across them. One Transaction per
UNH..UNT message; one event per STS status:

* the tracking id is the consignment reference (CNI, C503 document number);
* the carrier code is the STS status description code (C555/4405) and the
  sub-code the status reason (C556/9013); the STS free-text parts become the
  description, with any FTX of the status group;
* the time is the group's DTM (qualifier 334 "status change" preferred,
  formats 102, 203, 204) read as local time at the place: LOC (a UN/LOCODE
  gives the country) or NAD in the status group, else the partner zone;
* RFF references, LOC code and name, NAD address parts.

Envelope checks: UNT segment count and reference, UNE/UNZ counts and
references. Anything malformed raises :class:`~edi.errors.EdiError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import IO

from edi.edifact.syntax import SegmentReader
from edi.errors import EdiError
from edi.guard import guarded
from edi.model import Location, Party, StatusEvent, Transaction
from edi.numeric import same_number
from edi.zones import get_zone, normalise_country, resolve_zone

_TIME_QUALIFIERS = ("334", "7", "35", "11", "13", "132", "133", "137")
_FORMATS = {"102": 8, "203": 12, "204": 14}


def _c(elements: list[list[str]], i: int, j: int = 0) -> str:
    """Element i (1-based), component j (0-based), trimmed, or "" (fixed-width senders pad values)."""
    if len(elements) >= i:
        comps = elements[i - 1]
        if len(comps) > j:
            return comps[j].strip()
    return ""


def parse_dtm(elements: list[list[str]], segno: int) -> tuple[str, datetime]:
    """(qualifier, naive datetime) from a DTM segment."""
    qualifier, value, fmt = _c(elements, 1, 0), _c(elements, 1, 1), _c(elements, 1, 2) or "102"
    width = _FORMATS.get(fmt)
    if width is None:
        raise EdiError(f"unsupported date format {fmt!r} (use 102, 203 or 204)", segno, "DTM", 1, component=3)
    if len(value) != width or not (value.isascii() and value.isdigit()):
        raise EdiError(f"date {value!r} does not match format {fmt}", segno, "DTM", 1, component=2)
    try:
        return qualifier, datetime(
            int(value[:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[8:10] or 0),
            int(value[10:12] or 0),
            int(value[12:14] or 0),
        )
    except ValueError:
        raise EdiError(f"invalid date {value!r}", segno, "DTM", 1, component=2) from None


class _Status:
    """One STS and the segments of its group, until the next STS/CNI/UNT."""

    def __init__(self, tracking_id: str, code: str, reason: str, text: list[str], segno: int) -> None:
        self.tracking_id = tracking_id
        self.code = code
        self.reason = reason
        self.text = text
        self.segno = segno
        self.times: list[tuple[str, datetime]] = []
        self.refs: list[tuple[str, str]] = []
        self.loc: dict[str, str] = {}

    def event(self, default_zone: str, message_refs: list[tuple[str, str]]) -> StatusEvent:
        if not self.times:
            raise EdiError(f"status {self.code!r} has no date/time (DTM)", self.segno, "STS")
        when = next((t for q in _TIME_QUALIFIERS for qq, t in self.times if qq == q), self.times[0][1])
        loc = Location(
            city=self.loc.get("city", ""),
            state=self.loc.get("state", ""),
            postal_code=self.loc.get("postal_code", ""),
            iso_country=self.loc.get("iso_country", ""),
            code=self.loc.get("code", ""),
            name=self.loc.get("name", ""),
        )
        tz, source = resolve_zone(loc.iso_country, loc.state, default_zone)
        occurred = when.replace(tzinfo=tz)
        return StatusEvent(
            tracking_id=self.tracking_id,
            carrier_code=self.code,
            occurred_at=occurred,
            carrier_sub_code=self.reason,
            zone_source=source,
            description=" ".join(t for t in self.text if t),
            location=loc,
            references=tuple(message_refs + self.refs),
        )


# RFF qualifiers (UN/EDIFACT 1153) that can identify a consignment when CNI has no document number,
# best first: BM bill of lading number, BN booking reference number, CN carrier's reference number,
# AAS transport document number, CU consignor's reference number.
TRACKING_REFERENCES = ("BM", "BN", "CN", "AAS", "CU")


class _Consignment:
    """One CNI group: its statuses wait for the group's end, where the reference to track them by is known."""

    def __init__(self, number: str, segno: int) -> None:
        self.number = number
        self.segno = segno
        self.statuses: list[_Status] = []
        self.refs: list[tuple[str, str]] = []  # RFF of the group itself (before any STS)
        self.seen_refs: list[tuple[str, str]] = []  # every RFF anywhere in the group
        self.goods_ids: list[str] = []  # GIN identity numbers (e.g. SSCC)
        self.marks: list[str] = []  # PCI shipping marks

    def tracking_id(self) -> str:
        """CNI's document number, else the first RFF by TRACKING_REFERENCES, else a GIN, else a PCI mark."""
        if self.number:
            return self.number
        for qualifier in TRACKING_REFERENCES:
            for seen, value in self.seen_refs:
                if seen == qualifier and value:
                    return value
        return next((v for v in (*self.goods_ids, *self.marks) if v), "")


def _close(
    consignment: _Consignment,
    status: _Status | None,
    tx: Transaction,
    default_zone: str,
    message_refs: list[tuple[str, str]],
) -> None:
    """Emit the group's events under the reference it is tracked by."""
    if status is not None:
        consignment.statuses.append(status)
    tracking = consignment.tracking_id()
    if not tracking:
        raise EdiError(
            "consignment has no reference to track it by (CNI document number, RFF "
            + "/".join(TRACKING_REFERENCES)
            + ", GIN or PCI)",
            consignment.segno,
            "CNI",
            2,
        )
    tx.tracking_id = tx.tracking_id or tracking
    for each in consignment.statuses:
        each.tracking_id = tracking
        tx.events.append(each.event(default_zone, message_refs + consignment.refs))


def _parse(fileobj: IO[bytes], default_zone: str, encoding: str | None) -> Iterator[Transaction]:
    get_zone(default_zone)
    reader = SegmentReader(fileobj, encoding)
    unb_ref: str | None = None
    n_messages = n_groups = 0
    group_ref: str | None = None
    group_messages = 0
    tx: Transaction | None = None
    unh_ref = ""
    count = 0
    consignment: _Consignment | None = None
    status: _Status | None = None
    message_refs: list[tuple[str, str]] = []
    parties: list[Party] = []
    for tag, el in reader:
        segno = reader.segment_number
        if tx is not None:
            count += 1
        if tag == "UNB":
            if unb_ref is not None:
                raise EdiError("UNB inside an interchange (UNZ missing)", segno, "UNB")
            unb_ref = _c(el, 5)
            if not unb_ref:
                raise EdiError("UNB has no interchange control reference", segno, "UNB", 5)
            n_messages = n_groups = 0
        elif tag == "UNG":
            group_ref, group_messages = _c(el, 5) or "", 0
            n_groups += 1
        elif tag == "UNE":
            if group_ref is None:
                raise EdiError("UNE without UNG", segno, "UNE")
            if not same_number(_c(el, 1), group_messages):
                raise EdiError(f"UNE says {_c(el, 1)!r} messages, the group has {group_messages}", segno, "UNE", 1)
            if _c(el, 2) != group_ref:
                raise EdiError(f"UNE reference {_c(el, 2)!r} does not match UNG {group_ref!r}", segno, "UNE", 2)
            group_ref = None
        elif tag == "UNH":
            if unb_ref is None:
                raise EdiError("UNH outside an interchange (UNB missing)", segno, "UNH")
            if tx is not None:
                raise EdiError(f"message {unh_ref} has no UNT before the next UNH", segno, "UNH")
            unh_ref = _c(el, 1)
            msg_type = _c(el, 2, 0)
            if not unh_ref:
                raise EdiError("UNH has no message reference", segno, "UNH", 1)
            directory = ":".join(v for v in (_c(el, 2, 1), _c(el, 2, 2)) if v)
            tx = Transaction(
                set_id=msg_type,
                control_number=unh_ref,
                release=directory,
                segment_number=segno,
                interchange_control_number=unb_ref or "",
                group_control_number=group_ref or "",
            )
            count, consignment, status, message_refs, parties = 1, None, None, [], []
        elif tag == "UNT":
            if tx is None:
                raise EdiError("UNT without UNH", segno, "UNT")
            if not same_number(_c(el, 1), count):
                raise EdiError(f"UNT says {_c(el, 1)!r} segments, the message has {count}", segno, "UNT", 1)
            if _c(el, 2) != unh_ref:
                raise EdiError(f"UNT reference {_c(el, 2)!r} does not match UNH {unh_ref!r}", segno, "UNT", 2)
            if consignment is not None:
                _close(consignment, status, tx, default_zone, message_refs)
            tx.parties = tuple(parties)
            tx.references = tuple(message_refs)
            n_messages += 1
            group_messages += 1
            if tx.set_id == "IFTSTA":
                yield tx
            tx, status, consignment = None, None, None
        elif tag == "UNZ":
            if unb_ref is None:
                raise EdiError("UNZ without UNB", segno, "UNZ")
            if tx is not None:
                raise EdiError(f"message {unh_ref} has no UNT", segno, "UNZ")
            expected = n_groups if n_groups else n_messages
            if not same_number(_c(el, 1), expected):
                raise EdiError(f"UNZ says {_c(el, 1)!r}, the interchange has {expected}", segno, "UNZ", 1)
            if _c(el, 2) != unb_ref:
                raise EdiError(f"UNZ reference {_c(el, 2)!r} does not match UNB {unb_ref!r}", segno, "UNZ", 2)
            unb_ref = None
        elif tx is None:
            raise EdiError(f"segment {tag[:3]!r} outside a message", segno, tag[:3])
        elif tx.set_id != "IFTSTA":
            continue
        elif tag == "CNI":
            if consignment is not None:
                _close(consignment, status, tx, default_zone, message_refs)
            # CNI's document number (C503) is conditional: the reference may come later in the group.
            consignment, status = _Consignment(_c(el, 2), segno), None
        elif tag == "STS":
            if consignment is None:
                raise EdiError("STS before any CNI consignment", segno, "STS")
            if status is not None:
                consignment.statuses.append(status)
            code = _c(el, 2)
            if not code:
                raise EdiError("STS has no status code", segno, "STS", 2)
            text = [_c(el, 2, 3), _c(el, 3, 3)]
            status = _Status("", code, _c(el, 3), text, segno)
        elif tag == "GIN" and consignment is not None:
            consignment.goods_ids.append(_c(el, 2))
        elif tag == "PCI" and consignment is not None:
            consignment.marks.append(_c(el, 2))
        elif tag == "DTM":
            qualifier, when = parse_dtm(el, segno)
            if status is not None:
                status.times.append((qualifier, when))
        elif tag == "RFF":
            ref = (_c(el, 1, 0), _c(el, 1, 1))
            if status is not None:
                status.refs.append(ref)
            elif consignment is not None:
                consignment.refs.append(ref)
            else:
                message_refs.append(ref)
            if consignment is not None:
                consignment.seen_refs.append(ref)
        elif tag == "LOC" and status is not None:
            _read_loc(status.loc, el)
        elif tag == "NAD":
            if status is not None:
                _read_nad(status.loc, el)
            elif consignment is None:
                parties.append(
                    Party(
                        role=_c(el, 1),
                        id=_c(el, 2),
                        id_qualifier=_c(el, 2, 2),
                        name=" ".join(c for c in (el[3] if len(el) > 3 else []) if c),
                        address=tuple(c for c in (el[4] if len(el) > 4 else []) if c),
                        city=_c(el, 6),
                        state=_c(el, 7),
                        postal_code=_c(el, 8),
                        iso_country=normalise_country(_c(el, 9)),
                    )
                )
        elif tag == "FTX" and status is not None:
            status.text.append(" ".join(c for c in (el[3] if len(el) > 3 else []) if c))
    if tx is not None:
        raise EdiError(f"message {unh_ref} has no UNT", reader.segment_number, "UNT")
    if unb_ref is not None:
        raise EdiError("interchange has no UNZ", reader.segment_number, "UNZ")


def locode_country(code: str) -> str:
    """The country of a UN/LOCODE (ISO country code and three letters or digits), or ""."""
    if len(code) == 5 and code[:2].isalpha() and code.isalnum():
        return code[:2].upper()
    return ""


def place_zone_country(location: Location) -> str:
    """The country a reader will resolve a place's zone from (writers use it too)."""
    return location.iso_country or locode_country(location.code)


def _read_loc(loc: dict[str, str], el: list[list[str]]) -> None:
    # LOC: function qualifier, C517 place (id, code list, agency, name), C519 related place one
    # (often the country: id with code list 162), C553 related place two.
    related = _c(el, 3, 0)
    if len(related) == 2 and related.isalpha() and "iso_country" not in loc:
        loc["iso_country"] = related.upper()
    code, name = _c(el, 2, 0), _c(el, 2, 3)
    if code and "code" not in loc:
        loc["code"] = code
        country = locode_country(code)
        if country and "iso_country" not in loc:
            loc["iso_country"] = country
    if name and "city" not in loc:
        loc["city"] = name


def _read_nad(loc: dict[str, str], el: list[list[str]]) -> None:
    # NAD: party function, C082 id, C058 name and address, C080 party name,
    # C059 street, city, C819 country subdivision, postal code, country.
    for key, value in (
        ("name", " ".join(c for c in (el[3] if len(el) > 3 else []) if c)),
        ("city", _c(el, 6)),
        ("state", _c(el, 7)),
        ("postal_code", _c(el, 8)),
        ("iso_country", normalise_country(_c(el, 9))),
    ):
        if value and key not in loc:
            loc[key] = value


def iter_transactions(
    fileobj: IO[bytes], default_zone: str = "UTC", *, encoding: str | None = None
) -> Iterator[Transaction]:
    """Yield each IFTSTA message, with its events, as it is read."""
    yield from guarded(_parse(fileobj, default_zone, encoding))


def iter_events(fileobj: IO[bytes], default_zone: str = "UTC", *, encoding: str | None = None) -> Iterator[StatusEvent]:
    """Yield every status event in the file, in file order."""
    for tx in iter_transactions(fileobj, default_zone, encoding=encoding):
        yield from tx.events


def validate(fileobj: IO[bytes], *, encoding: str | None = None) -> list[EdiError]:
    """The first problem in the file, as a list (empty for a good file).

    EDIFACT readers stop at the first problem; there is no CONTRL here.
    """
    try:
        for _tx in iter_transactions(fileobj, encoding=encoding):
            pass
    except EdiError as err:
        return [err]
    return []
