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
parser hands over a set's text whole: the header is walked by segment
prefix (party segments are skipped and parsed only if someone asks for
them), the LX loops are split once and walked with local variables only,
and repeated loop segments are remembered. (Regexes were tried for the
loops and were slower than ``str.split``.)
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from math import isfinite
from typing import Any

from edi.errors import EdiError
from edi.model import Location, StatusEvent, Transaction, ZoneSource
from edi.x12.timecodes import ZONE_CODES as _ZONE_CODES
from edi.x12.timecodes import zone_for_code
from edi.zones import normalise_country, resolve_zone

# AT7-01 statuses whose date is a forecast, not something that happened (X12
# element 1650): AG estimated delivery, X2 estimated arrival at the consignee's
# location, B6 estimated to arrive at carrier terminal, C1 estimated to depart
# terminal location. Such a status becomes an estimate whose event time is when
# the group was created (GS04/05); the forecast of a delivery (AG, X2) is the
# event's ETA, the others' forecast is kept in its meta as ``forecast_at``.
FORECAST_CODES = frozenset({"AG", "X2", "B6", "C1"})
ETA_CODES = frozenset({"AG", "X2"})


_DATES: dict[str, tuple[int, int, int]] = {}
_TIMES: dict[str, tuple[int, int, int, int]] = {}


def parse_parts(
    date: str, time: str, segno: int, pos: int, tag: str = "AT7", date_el: int = 5
) -> tuple[tuple[int, int, int], tuple[int, int, int, int]]:
    """((year, month, day), (hour, minute, second, microsecond)), validated.

    Dates and times repeat a lot within a file, so their parsed parts are
    cached: ``int()`` on slices costs more than the rest of an AT7.
    """
    ymd = _DATES.get(date)
    if ymd is None:
        if len(date) != 8 or not (date.isascii() and date.isdigit()):
            raise EdiError(
                f"invalid date {date!r} (expected CCYYMMDD)",
                segno,
                tag,
                date_el,
                ack=("AK4", "8"),
                set_position=pos,
                bad_value=date,
            )
        ymd = (int(date[:4]), int(date[4:6]), int(date[6:8]))
        try:
            datetime(*ymd)
        except ValueError:
            raise EdiError(
                f"invalid date {date!r}", segno, tag, date_el, ack=("AK4", "8"), set_position=pos, bad_value=date
            ) from None
        if len(_DATES) > 20000:
            _DATES.clear()
        _DATES[date] = ymd
    hms = _TIMES.get(time)
    if hms is None:
        lt = len(time)
        if lt and (lt not in (4, 6, 7, 8) or not (time.isascii() and time.isdigit())):
            raise EdiError(
                f"invalid time {time!r} (expected HHMM or HHMMSS)",
                segno,
                tag,
                date_el + 1,
                ack=("AK4", "9"),
                set_position=pos,
                bad_value=time,
            )
        hms = (
            int(time[:2]) if lt else 0,
            int(time[2:4]) if lt else 0,
            int(time[4:6]) if lt >= 6 else 0,
            int(time[6:].ljust(2, "0")) * 10000 if lt > 6 else 0,
        )
        if hms[0] > 23 or hms[1] > 59 or hms[2] > 59:
            raise EdiError(
                f"invalid time {time!r}", segno, tag, date_el + 1, ack=("AK4", "9"), set_position=pos, bad_value=time
            )
        if len(_TIMES) > 20000:
            _TIMES.clear()
        _TIMES[time] = hms
    return ymd, hms


_PAD = [""] * 8
# Kinds of remembered loop segments (see _loops).
_MS1, _MS2, _K1, _Q7 = range(4)
# First two characters of the segments that belong only in an LX loop.
_LOOP_PREFIXES = frozenset({"AT", "MS", "K1", "Q7"})
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
        self.l11_head = "L11" + sep
        self.ms3_head = "MS3" + sep
        # Loop segments found in the header (before the first LX) are misplaced.
        self.loop_only = frozenset({"AT7", "MS1", "MS2", "K1", "AT8", "Q7"})
        # Raw loop segment -> (kind, meaning), per delimiter pair (see _loops).
        self.known: dict[str, tuple[int, Any]] = {}


@lru_cache(maxsize=16)
def syntax_for(sep: str, term: str) -> Syntax:
    return Syntax(sep, term)


_PAD = [""] * 8
# Kinds of remembered loop segments (see _loops).
_MS1, _MS2, _K1, _Q7 = range(4)
# First two characters of the segments that belong only in an LX loop.
_LOOP_PREFIXES = frozenset({"AT", "MS", "K1", "Q7"})
_LOCATIONS: dict[tuple[str, ...], Location] = {}


def _location(el: list[str]) -> Location:
    """A shared Location per MS1: files repeat the same terminals endlessly,
    and Location is immutable, so one object serves every event there.

    MS1-01..03 city, state, country; MS1-04/05 longitude/latitude as
    (D)DDMMSS[.SS] with MS1-06 E/W and MS1-07 N/S; MS1-08 postal code;
    MS1-09/10 longitude/latitude in decimal degrees (5010 and later).
    """
    key = tuple(v.strip() for v in el[1:11])
    loc = _LOCATIONS.get(key)
    if loc is None:
        if len(_LOCATIONS) > 50_000:
            _LOCATIONS.clear()
        city, state, country, lon, lat, east_west, north_south, postal, lon_dec, lat_dec = key + ("",) * (10 - len(key))
        lng_value = _decimal_degrees(lon_dec) if lon_dec else _dms_degrees(lon, east_west, "W")
        lat_value = _decimal_degrees(lat_dec) if lat_dec else _dms_degrees(lat, north_south, "S")
        if lng_value is None or lat_value is None or not (-180 <= lng_value <= 180 and -90 <= lat_value <= 90):
            lng_value = lat_value = None
        loc = _LOCATIONS[key] = Location(
            city,
            state,
            postal,
            country if len(country) == 2 else normalise_country(country),
            lat=lat_value,
            lng=lng_value,
        )
    return loc


def _decimal_degrees(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if isfinite(number) else None


def _dms_degrees(value: str, direction: str, negative: str) -> float | None:
    """``DDDMMSS`` or ``DDDMMSS.SS`` (degrees, minutes, seconds) → signed decimal degrees."""
    whole, _, fraction = value.partition(".")
    if len(whole) < 6 or not whole.isdigit() or (fraction and not fraction.isdigit()):
        return None
    degrees, minutes, seconds = int(whole[:-4]), int(whole[-4:-2]), float(f"{whole[-2:]}.{fraction or 0}")
    if minutes >= 60 or seconds >= 60:
        return None
    result = round(degrees + minutes / 60 + seconds / 3600, 6)
    return -result if direction.upper() == negative else result


_NOWHERE = Location()


def build_214(
    tx: Transaction, body: str, syn: Syntax, first_segno: int, default_zone: str, reported: datetime | None = None
) -> None:
    """Fill ``tx`` from the text between its ST and SE segments (terminators inside).

    ``first_segno`` is the file position of the body's first segment (the
    one after ST); a segment's position in the set is counted from ST = 1.
    ``default_zone`` must already be a valid zone name. ``reported`` is the
    group's creation time, the event time of estimates.
    """
    tx.tracking_id, tx.shipper_id, tx.scac, tx.references, tx.header_text = read_214(
        tx.events, body, syn, first_segno, default_zone, reported=reported
    )
    tx.element_separator, tx.segment_terminator = syn.sep, syn.term


def read_214(
    events: list[StatusEvent],
    body: str,
    syn: Syntax,
    first_segno: int,
    default_zone: str,
    start: int = 0,
    end: int | None = None,
    reported: datetime | None = None,
) -> tuple[str, str, str, tuple[tuple[str, str], ...], str]:
    """Append the set's events to ``events``; return (tracking id, shipper id,
    SCAC, header references, header text) for a Transaction, if one is wanted.

    The set's segments are ``body[start:end]``: the parser passes the whole
    piece with offsets rather than copying the body out of it.
    """
    sep, term = syn.sep, syn.term
    if end is None:
        end = len(body)
    if body.startswith(syn.lx_head, start, end):
        header, loops = "", body[start + len(syn.lx_head) : end]
    else:
        cut = body.find(syn.lx_marker, start, end)
        if cut < 0:
            header, loops = body[start:end], None
        else:
            header, loops = body[start:cut], body[cut + len(syn.lx_marker) : end]
    # The header is walked by four-character prefix; only B10, L11 and MS3
    # are split into elements (parties wait until someone asks for them).
    tracking = shipper = scac = ""
    has_b10 = False
    items: list[tuple[str, str]] = []
    meta: tuple[tuple[str, str], ...] = ()
    l11_head, b10_head, ms3_head, loop_only = syn.l11_head, syn.b10_head, syn.ms3_head, syn.loop_only
    for raw in header.split(term) if header else ():
        if raw[:1] == "N":
            continue  # N1-N4 parties: read only when asked for (Transaction.parties)
        lead = raw[:4]
        if lead == l11_head:
            el = raw.split(sep)
            items.append(((el[2] if len(el) > 2 else "").strip(), el[1].strip()))
        elif lead == b10_head:
            el = raw.split(sep)
            if len(el) < 4:
                el += _PAD
            # Padded identifiers are common (fixed-width exports): never store the padding.
            pro, shipper, scac = el[1].strip(), el[2].strip(), el[3].strip()
            tracking = pro or shipper
            if not tracking:
                i = header.split(term).index(raw)
                raise EdiError(
                    "B10 has neither a PRO number nor a shipment id",
                    first_segno + i,
                    "B10",
                    1,
                    ack=("AK4", "1"),
                    set_position=i + 2,
                )
            has_b10 = True
        elif lead == ms3_head:
            el = raw.split(sep)
            if el[1].strip():
                meta = (("interline_scac", el[1].strip()),)
        elif lead[:2] in _LOOP_PREFIXES and raw.split(sep, 1)[0] in loop_only:
            i = header.split(term).index(raw)
            tag = raw.split(sep, 1)[0]
            raise EdiError(f"{tag} outside an LX loop", first_segno + i, tag, ack=("AK3", "7"), set_position=i + 2)
    if not has_b10:
        n_header = header.count(term) + 1 if header else 0
        raise EdiError(
            "214 has no B10 segment", first_segno + n_header, "B10", ack=("AK3", "3"), set_position=n_header + 2
        )
    refs = tuple(items)
    if loops is not None:
        _loops(
            events,
            loops.split(syn.lx_marker),
            syn,
            header,
            first_segno,
            tracking,
            shipper,
            scac,
            refs,
            meta,
            default_zone,
            reported,
        )
    return tracking, shipper, scac, refs, header


def _where(
    loops: list[str], header: str, term: str, first_segno: int, loop: str, segments: list[str], raw: str
) -> tuple[int, int]:
    """(file segment number, position in the set) of ``raw``: counted only when there is an error."""
    before = header.count(term) + 1 if header else 0
    for other in loops:
        if other is loop:
            break
        before += other.count(term) + 1
    i = before + segments.index(raw)
    return first_segno + i, i + 2


def _loops(
    events: list[StatusEvent],
    loops: list[str],
    syn: Syntax,
    header: str,
    first_segno: int,
    tracking: str,
    shipper: str,
    scac: str,
    head_refs: tuple[tuple[str, str], ...],
    head_meta: tuple[tuple[str, str], ...],
    zone: str,
    reported: datetime | None,
) -> None:
    """Events from the LX loops; each of ``loops`` is one loop's text after its ``LX<sep>``.

    Each AT7 becomes an event at the end of its loop, because the L11, K1,
    AT8 and Q7 after it belong to every status of the loop. Error positions
    are counted only when an error is raised.

    MS1, MS2, K1 and Q7 segments repeat endlessly in real files (the same
    terminals, trailers, remarks), so what each raw segment means is
    remembered: a repeat costs one dictionary lookup instead of a split.
    """
    append = events.append
    dates, times, zones = _DATES, _TIMES, _ZONE_CODES
    sep, term, known = syn.sep, syn.term, syn.known
    # Globals bound as locals: this runs for every loop of every set.
    new_event, new_datetime, resolve, forecasts, pad = StatusEvent, datetime, resolve_zone, FORECAST_CODES, _PAD
    if len(known) > 50_000:
        known.clear()
    for loop in loops:
        segments = loop.split(term)
        # Statuses of the loop: [code, reason, ymd, hms, tz, location, meta]
        statuses: list[list[Any]] = []
        refs = head_refs
        text: list[str] = []
        loop_meta: tuple[tuple[str, str], ...] = ()
        weight: float | None = None
        unit = ""
        quantity: int | None = None
        for raw in segments[1:]:
            hit = known.get(raw)
            if hit is not None:
                kind, value = hit
                if kind == _MS1:
                    if statuses:
                        statuses[-1][5] = value
                elif kind == _K1:
                    text += value
                elif kind == _MS2:
                    if statuses and value:
                        statuses[-1][6] += (("equipment", value),)
                elif value:  # Q7
                    loop_meta += (("lading_exception", value),)
                continue
            el = raw.split(sep)
            if len(el) < 8:
                el += pad
            tag = el[0]
            if tag == "AT7":
                code = el[1].strip()
                if not code:
                    continue  # an appointment (AT7-03), not a status
                ymd = dates.get(el[5])
                hms = times.get(el[6])
                if ymd is None or hms is None:
                    segno, pos = _where(loops, header, term, first_segno, loop, segments, raw)
                    if not el[5].strip():
                        raise EdiError("status has no date", segno, "AT7", 5, ack=("AK4", "2"), set_position=pos)
                    ymd, hms = parse_parts(el[5].strip(), el[6].strip(), segno, pos)
                tcode = el[7].strip()
                tz = None
                if tcode and tcode != "LT":
                    tz = zones.get(tcode) or zone_for_code(tcode)
                    if tz is None:
                        segno, pos = _where(loops, header, term, first_segno, loop, segments, raw)
                        raise EdiError(
                            f"unknown time code {tcode!r}",
                            segno,
                            "AT7",
                            7,
                            ack=("AK4", "7"),
                            set_position=pos,
                            bad_value=tcode,
                        )
                statuses.append([code, el[2].strip(), ymd, hms, tz, _NOWHERE, ()])
            elif tag == "MS1":
                loc = _location(el)
                known[raw] = (_MS1, loc)
                if statuses:
                    statuses[-1][5] = loc
            elif tag == "L11":
                refs += ((el[2].strip(), el[1].strip()),)
            elif tag == "K1":
                parts = [v for v in (el[1].strip(), el[2].strip()) if v]
                known[raw] = (_K1, parts)
                text += parts
            elif tag == "AT8":
                # Not remembered: weights differ from one shipment to the next.
                try:
                    weight = float(el[3]) if el[3] else None
                    if weight is not None and not isfinite(weight):
                        raise ValueError(el[3])
                    unit = el[2] if el[3] else ""
                    quantity = int(el[4]) if el[4] else None
                except ValueError:
                    segno, pos = _where(loops, header, term, first_segno, loop, segments, raw)
                    raise EdiError(
                        "AT8 weight or quantity is not a number",
                        segno,
                        "AT8",
                        3 if weight is None else 4,
                        ack=("AK4", "6"),
                        set_position=pos,
                    ) from None
            elif tag == "MS2":
                equipment = el[2].strip()
                known[raw] = (_MS2, equipment)
                if statuses and equipment:
                    statuses[-1][6] += (("equipment", equipment),)
            elif tag == "Q7":
                lading = el[1].strip()
                known[raw] = (_Q7, lading)
                if lading:
                    loop_meta += (("lading_exception", lading),)
            elif tag == "B10" or tag == "N1":
                segno, pos = _where(loops, header, term, first_segno, loop, segments, raw)
                raise EdiError(f"{tag} inside an LX loop", segno, tag, ack=("AK3", "7"), set_position=pos)
        if statuses:
            description = " ".join(text) if text else ""
            base = head_meta + loop_meta if loop_meta else head_meta
            source: ZoneSource
            for code, reason, ymd, hms, tz, loc, st_meta in statuses:
                if tz is not None:
                    source = "explicit"
                else:
                    tz, source = resolve(loc.iso_country, loc.state, zone, loc.lat, loc.lng)
                occurred = new_datetime(ymd[0], ymd[1], ymd[2], hms[0], hms[1], hms[2], hms[3], tz)
                if code in forecasts:
                    # A forecast: the date is the ETA; the event is the report of it.
                    eta = occurred if code in ETA_CODES else None
                    extra = () if eta is not None else (("forecast_at", occurred.isoformat()),)
                    append(
                        new_event(
                            tracking,
                            code,
                            reported or occurred,
                            reason,
                            "partner_default",
                            description,
                            loc,
                            refs,
                            scac,
                            shipper,
                            eta,
                            weight,
                            unit,
                            quantity,
                            base + st_meta + extra,
                            True,
                        )
                    )
                    continue
                append(
                    new_event(
                        tracking,
                        code,
                        occurred,
                        reason,
                        source,
                        description,
                        loc,
                        refs,
                        scac,
                        shipper,
                        None,
                        weight,
                        unit,
                        quantity,
                        base + st_meta if st_meta else base,
                    )
                )
