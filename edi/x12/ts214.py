"""The 214 (Transportation Carrier Shipment Status) model, releases 4010 and 5010.

:func:`build_214` turns one transaction set's segments into a
:class:`~edi.model.Transaction` whose events are one per AT7 status:

* B10: the carrier's PRO number (the tracking id), the shipper's shipment id
  and the SCAC; L11 references and MS3 interline data; N1-N4 parties.
* LX loops: AT7 (status, reason, date, time, time code), MS1 (where), MS2
  (equipment), then L11, Q7, K1 and AT8, which apply to every AT7 of the loop.

Local times (``LT`` or no code) take the zone of the MS1 place when it
resolves to one, else the partner's default zone. Segments the model does
not use are skipped, as real files carry plenty of them.

Speed matters (a carrier's daily file can be hundreds of megabytes), so the
parser hands over a set's text whole: the header is searched with substring
lookups in C, the LX loops are split once and walked with local variables
only, and parties are parsed only if someone asks for them. (Regexes were
tried for the loops and were slower than ``str.split``.)
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from functools import lru_cache
from itertools import repeat
from typing import Any

from edi.errors import EdiError
from edi.model import Location, StatusEvent, Transaction
from edi.x12.timecodes import LOCAL_CODES, ZONE_CODES as _ZONE_CODES, zone_for_code
from edi.zones import get_zone, normalise_country, resolve_zone

# AT7 statuses whose date is a forecast, not something that happened.
ETA_CODES = frozenset({"AG", "X2", "B6"})


_DATES: dict[str, tuple[int, int, int]] = {}
_TIMES: dict[str, tuple[int, int, int, int]] = {}


def parse_parts(date: str, time: str, segno: int, pos: int, tag: str = "AT7",
                date_el: int = 5) -> tuple[tuple[int, int, int], tuple[int, int, int, int]]:
    """((year, month, day), (hour, minute, second, microsecond)), validated.

    Dates and times repeat a lot within a file, so their parsed parts are
    cached: ``int()`` on slices costs more than the rest of an AT7.
    """
    ymd = _DATES.get(date)
    if ymd is None:
        if len(date) != 8 or not date.isdigit():
            raise EdiError(f"invalid date {date!r} (expected CCYYMMDD)", segno, tag, date_el,
                           ack=("AK4", "8"), set_position=pos, bad_value=date)
        ymd = (int(date[:4]), int(date[4:6]), int(date[6:8]))
        try:
            datetime(*ymd)
        except ValueError:
            raise EdiError(f"invalid date {date!r}", segno, tag, date_el,
                           ack=("AK4", "8"), set_position=pos, bad_value=date) from None
        if len(_DATES) > 20000:
            _DATES.clear()
        _DATES[date] = ymd
    hms = _TIMES.get(time)
    if hms is None:
        lt = len(time)
        if lt and (lt not in (4, 6, 7, 8) or not time.isdigit()):
            raise EdiError(f"invalid time {time!r} (expected HHMM or HHMMSS)", segno, tag, date_el + 1,
                           ack=("AK4", "9"), set_position=pos, bad_value=time)
        hms = (int(time[:2]) if lt else 0, int(time[2:4]) if lt else 0, int(time[4:6]) if lt >= 6 else 0,
               int(time[6:].ljust(2, "0")) * 10000 if lt > 6 else 0)
        if hms[0] > 23 or hms[1] > 59 or hms[2] > 59:
            raise EdiError(f"invalid time {time!r}", segno, tag, date_el + 1,
                           ack=("AK4", "9"), set_position=pos, bad_value=time)
        if len(_TIMES) > 20000:
            _TIMES.clear()
        _TIMES[time] = hms
    return ymd, hms


def parse_datetime(date: str, time: str, segno: int, pos: int, tag: str = "AT7",
                   date_el: int = 5, tz: tzinfo | None = None) -> datetime:
    """A datetime from CCYYMMDD and HHMM[SS[D[D]]] (naive unless ``tz``)."""
    (y, mo, d), (h, mi, s, us) = parse_parts(date, time, segno, pos, tag, date_el)
    return datetime(y, mo, d, h, mi, s, us, tz)


_PAD = [""] * 8
_IN_LX_ONLY = frozenset({"AT7", "MS1", "MS2", "K1", "AT8", "Q7"})


class Syntax:
    """Markers build_214 searches for, made once per pair of delimiters."""

    def __init__(self, sep: str, term: str) -> None:
        self.sep, self.term = sep, term
        self.lx_head = "LX" + sep
        self.b10_head = "B10" + sep
        self.lx_marker = term + "LX" + sep
        self.b10_marker = term + "B10" + sep
        self.ms3_marker = term + "MS3" + sep
        self.l11_marker = term + "L11" + sep
        s, t = re.escape(sep), re.escape(term)
        # Loop segments found in the header (before the first LX) are misplaced.
        self.misplaced = re.compile(f"{t}(AT7|MS1|MS2|K1|AT8|Q7)(?={s}|{t}|$)").search


@lru_cache(maxsize=16)
def syntax_for(sep: str, term: str) -> Syntax:
    return Syntax(sep, term)


_PAD = [""] * 8
_LOCATIONS: dict[tuple[str, str, str], Location] = {}


def _location(city: str, state: str, country: str) -> Location:
    """A shared Location per place: files repeat the same terminals endlessly,
    and Location is immutable, so one object serves every event there."""
    key = (city, state, country)
    loc = _LOCATIONS.get(key)
    if loc is None:
        if len(_LOCATIONS) > 50_000:
            _LOCATIONS.clear()
        loc = _LOCATIONS[key] = Location(city, state, "", country if len(country) == 2 else normalise_country(country))
    return loc


_NOWHERE = Location()


def build_214(tx: Transaction, body: str, syn: Syntax, first_segno: int, default_zone: str) -> None:
    """Fill ``tx`` from the text between its ST and SE segments (terminators inside).

    ``first_segno`` is the file position of the body's first segment (the
    one after ST); a segment's position in the set is counted from ST = 1.
    ``default_zone`` must already be a valid zone name.
    """
    sep, term = syn.sep, syn.term
    if body.startswith(syn.lx_head):
        cut = 0
    else:
        cut = body.find(syn.lx_marker)
        cut = len(body) + 1 if cut < 0 else cut + 1
    header = body[:cut - 1] if cut else ""
    n_header = header.count(term) + 1 if header else 0
    # The header, searched rather than walked: a leading terminator makes
    # every lookup a plain substring search in C.
    scan = term + header
    wrong = syn.misplaced(scan)
    if wrong is not None:
        tag = wrong.group(1)
        i = scan.count(term, 0, wrong.start() + 1) - 1
        raise EdiError(f"{tag} outside an LX loop", first_segno + i, tag, ack=("AK3", "7"), set_position=i + 2)
    if header.startswith(syn.b10_head):  # B10 is nearly always the first segment
        at = 0
    else:
        at = scan.find(syn.b10_marker)
        if at < 0:
            raise EdiError("214 has no B10 segment", first_segno + n_header, "B10", ack=("AK3", "3"),
                           set_position=n_header + 2)
    stop = scan.find(term, at + 1)
    el = scan[at + 1:stop if stop > 0 else len(scan)].split(sep)
    if len(el) < 4:
        el += _PAD
    tracking, shipper, scac = el[1] or el[2], el[2], el[3]
    if not tracking:
        i = scan.count(term, 0, at + 1) - 1
        raise EdiError("B10 has neither a PRO number nor a shipment id", first_segno + i, "B10", 1,
                       ack=("AK4", "1"), set_position=i + 2)
    meta: tuple[tuple[str, str], ...] = ()
    if syn.ms3_marker in scan:
        at = scan.find(syn.ms3_marker)
        stop = scan.find(term, at + 1)
        el = scan[at + 1:stop if stop > 0 else len(scan)].split(sep)
        if len(el) > 1 and el[1]:
            meta = (("interline_scac", el[1]),)
    refs: tuple[tuple[str, str], ...] = ()
    pieces = scan.split(syn.l11_marker)
    if len(pieces) > 1:
        items = []
        for piece in pieces[1:]:
            stop = piece.find(term)
            el = (piece[:stop] if stop >= 0 else piece).split(sep)
            items.append((el[1] if len(el) > 1 else "", el[0]))
        refs = tuple(items)
    tx.tracking_id, tx.shipper_id, tx.scac = tracking, shipper, scac
    tx.references = refs
    tx.header_text = header
    tx.element_separator, tx.segment_terminator = sep, term
    if cut > len(body):
        return
    _loops(tx.events, body[cut:].split(term), sep, first_segno + n_header, n_header + 2, tracking, shipper,
           scac, refs, meta, default_zone)


def _loops(events: list[StatusEvent], segments: list[str], sep: str, segno: int, pos: int, tracking: str,
           shipper: str, scac: str, head_refs: tuple[tuple[str, str], ...], head_meta: tuple[tuple[str, str], ...],
           zone: str) -> None:
    """Events from the LX loops; ``segments[0]`` is the first LX (file position ``segno``).

    Each AT7 becomes an event when its loop ends (at the next LX or the end),
    because L11, K1, AT8 and Q7 after it belong to every status of the loop.
    """
    append = events.append
    dates, times, zones = _DATES, _TIMES, _ZONE_CODES
    # Pending statuses of the loop: [code, reason, ymd, hms, tz, location, meta]
    statuses: list[list[Any]] = []
    refs = head_refs
    text: list[str] = []
    loop_meta: tuple[tuple[str, str], ...] = ()
    weight: float | None = None
    unit = ""
    quantity: int | None = None
    segments.append("LX")  # a sentinel: the last loop ends like every other
    # map() splits every segment in C, with no Python call per segment.
    for i, el in enumerate(map(str.split, segments, repeat(sep))):
        tag = el[0]
        if tag != "LX":
            if len(el) < 8:
                el += _PAD
            if tag == "AT7":
                code = el[1]
                if not code:
                    continue  # an appointment (AT7-03), not a status
                date, time, tcode = el[5], el[6], el[7]
                ymd = dates.get(date)
                hms = times.get(time)
                if ymd is None or hms is None:
                    if not date:
                        raise EdiError("status has no date", segno + i, "AT7", 5, ack=("AK4", "2"),
                                       set_position=pos + i)
                    ymd, hms = parse_parts(date, time, segno + i, pos + i)
                tz = None
                if tcode and tcode != "LT":
                    tz = zones.get(tcode) or zone_for_code(tcode)
                    if tz is None:
                        raise EdiError(f"unknown time code {tcode!r}", segno + i, "AT7", 7, ack=("AK4", "7"),
                                       set_position=pos + i, bad_value=tcode)
                statuses.append([code, el[2], ymd, hms, tz, _NOWHERE, ()])
            elif tag == "MS1":
                if statuses:
                    statuses[-1][5] = _location(el[1], el[2], el[3])
            elif tag == "L11":
                refs += ((el[2], el[1]),)
            elif tag == "K1":
                if el[1]:
                    text.append(el[1].strip())
                if el[2]:
                    text.append(el[2].strip())
            elif tag == "AT8":
                try:
                    if el[3]:
                        weight = float(el[3])
                        unit = el[2]
                    if el[4]:
                        quantity = int(el[4])
                except ValueError:
                    raise EdiError("AT8 weight or quantity is not a number", segno + i, "AT8",
                                   3 if weight is None else 4, ack=("AK4", "6"), set_position=pos + i) from None
            elif tag == "MS2":
                if statuses and el[2]:
                    statuses[-1][6] += (("equipment", el[2]),)
            elif tag == "Q7":
                if el[1]:
                    loop_meta += (("lading_exception", el[1]),)
            elif tag == "B10" or tag == "N1":
                raise EdiError(f"{tag} inside an LX loop", segno + i, tag, ack=("AK3", "7"), set_position=pos + i)
            continue
        # An LX (or the sentinel): the loop before it is complete.
        if statuses:
            description = " ".join(text) if text else ""
            base = head_meta + loop_meta if loop_meta else head_meta
            for code, reason, ymd, hms, tz, loc, st_meta in statuses:
                if tz is not None:
                    source = "explicit"
                else:
                    tz, source = resolve_zone(loc.iso_country, loc.state, zone)
                occurred = datetime(ymd[0], ymd[1], ymd[2], hms[0], hms[1], hms[2], hms[3], tz)
                append(StatusEvent(tracking, code, occurred, reason, source, description, loc,  # type: ignore[arg-type]
                                   refs, scac, shipper, occurred if code in ETA_CODES else None, weight, unit,
                                   quantity, base + st_meta if st_meta else base))
            statuses = []
        refs = head_refs
        if text:
            text = []
        loop_meta = ()
        weight, unit, quantity = None, "", None
