"""Write UN/EDIFACT IFTSTA interchanges from neutral events.

Public API::

    EdifactProfile(sender_id, recipient_id, sender_qualifier="ZZ", recipient_qualifier="ZZ",
                   directory="D:96A", syntax="UNOC", syntax_version="3", test=False,
                   una=True, newline=True, encoding="iso-8859-1", default_zone="UTC")
    write_iftsta(events, profile, interchange_reference, first_message_reference=1, *,
                 created_at=None) -> bytes
    write_iftsta_stream(events, profile, fileobj, interchange_reference,
                        first_message_reference=1, *, created_at=None) -> WriteSummary

One UNH..UNT message per run of consecutive events with the same tracking
id (one CNI, one STS group per event). Times are written as local time
(DTM format 203, or 204 when there are seconds) in the zone a reader will
resolve from the event's place, or the profile's ``default_zone``: EDIFACT
has no zone of its own, so reader and writer must agree on it. Values are
escaped with the release character.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from edi.edifact.reader import place_zone_country
from edi.edifact.syntax import ServiceChars
from edi.errors import EdiError
from edi.model import StatusEvent
from edi.x12.writer import WriteSummary
from edi.zones import get_zone, resolve_zone

_DIRECTORIES = {
    "D:96A",
    "D:96B",
    "D:97A",
    "D:97B",
    "D:98A",
    "D:98B",
    "D:99A",
    "D:99B",
    "D:00A",
    "D:00B",
    "D:01A",
    "D:01B",
    "D:01C",
    "D:02A",
    "D:02B",
    "D:03A",
    "D:03B",
    "D:04A",
    "D:04B",
    "D:05A",
    "D:05B",
    "D:06A",
    "D:06B",
    "D:07A",
    "D:07B",
    "D:08A",
    "D:08B",
    "D:09A",
    "D:09B",
    "D:10A",
    "D:10B",
    "D:11A",
    "D:11B",
    "D:12A",
    "D:12B",
    "D:13A",
    "D:13B",
    "D:14A",
    "D:14B",
    "D:15A",
    "D:15B",
    "D:16A",
    "D:16B",
    "D:17A",
    "D:17B",
    "D:18A",
    "D:18B",
    "D:19A",
    "D:19B",
    "D:20A",
    "D:20B",
    "D:21A",
    "D:21B",
    "D:22A",
    "D:22B",
    "D:23A",
    "D:23B",
}


@dataclass(frozen=True, slots=True)
class EdifactProfile:
    """What a trading partner expects in the UNB/UNH envelope."""

    sender_id: str
    recipient_id: str
    sender_qualifier: str = "ZZ"
    recipient_qualifier: str = "ZZ"
    directory: str = "D:96A"
    syntax: str = "UNOC"
    syntax_version: str = "3"
    test: bool = False
    una: bool = True
    newline: bool = True
    encoding: str = "iso-8859-1"
    default_zone: str = "UTC"


def write_iftsta_stream(
    events: Iterable[StatusEvent],
    profile: EdifactProfile,
    fileobj: IO[bytes],
    interchange_reference: int | str,
    first_message_reference: int = 1,
    *,
    created_at: datetime | None = None,
) -> WriteSummary:
    """Write one IFTSTA interchange to ``fileobj`` as the events arrive."""
    p = profile
    if p.directory not in _DIRECTORIES:
        raise EdiError(f"unsupported EDIFACT directory {p.directory!r} (e.g. D:96A or D:07B)")
    if not p.sender_id or not p.recipient_id:
        raise EdiError("profile needs sender_id and recipient_id")
    get_zone(p.default_zone)
    ref = str(interchange_reference)
    if not ref or len(ref) > 14:
        raise EdiError("interchange reference must be 1-14 characters")
    chars = ServiceChars()
    esc_table = chars.escape_table()
    end = "'" + ("\n" if p.newline else "")
    now = created_at or datetime.now(UTC)
    buf: list[str] = []

    def esc(value: str) -> str:
        return value.translate(esc_table) if value else ""

    def seg(*elements: str | tuple[str, ...]) -> None:
        parts = []
        for e in elements:
            if isinstance(e, tuple):
                comps = list(e)
                while comps and comps[-1] == "":
                    comps.pop()
                parts.append(":".join(comps))
            else:
                parts.append(e)
        while len(parts) > 1 and parts[-1] == "":
            parts.pop()
        buf.append("+".join(parts) + end)

    def flush() -> None:
        try:
            fileobj.write("".join(buf).encode(p.encoding))
        except UnicodeEncodeError as exc:
            raise EdiError(f"a value cannot be written in {p.encoding}: {exc.object[exc.start : exc.end]!r}") from None
        buf.clear()

    if p.una:
        buf.append("UNA:+.? '" + ("\n" if p.newline else ""))
    version, release = p.directory.split(":")
    seg(
        "UNB",
        (p.syntax, p.syntax_version),
        (esc(p.sender_id), p.sender_qualifier),
        (esc(p.recipient_id), p.recipient_qualifier),
        (now.strftime("%y%m%d"), now.strftime("%H%M")),
        esc(ref),
        "",
        "IFTSTA" if not p.test else "",
        "",
        "",
        "1" if p.test else "",
    )
    messages = n_events = 0
    msg_no = first_message_reference - 1
    current: str | None = None
    count = 0
    msg_ref = ""
    for ev in events:
        if ev.occurred_at.tzinfo is None or ev.occurred_at.utcoffset() is None:
            raise EdiError(f"event for {ev.tracking_id!r} has a naive occurred_at")
        if not ev.tracking_id:
            raise EdiError("event has no tracking id")
        if ev.tracking_id != current:
            if current is not None:
                seg("UNT", str(count + 1), msg_ref)
            msg_no += 1
            messages += 1
            msg_ref = str(msg_no)
            current = ev.tracking_id
            seg("UNH", msg_ref, ("IFTSTA", version, release, "UN"))
            seg("BGM", "23", esc(ev.tracking_id), "9")
            seg("DTM", ("137", now.strftime("%Y%m%d%H%M"), "203"))
            seg("CNI", "1", esc(ev.tracking_id))
            count = 4
        n_events += 1
        loc = ev.location
        seg("STS", "1", (esc(ev.carrier_code), "", "", esc(ev.description)), esc(ev.carrier_sub_code))
        count += 1
        for qualifier, value in ev.references:
            seg("RFF", (esc(qualifier), esc(value)))
            count += 1
        tz, _source = resolve_zone(place_zone_country(loc), loc.state, p.default_zone)
        local = ev.occurred_at.astimezone(tz)
        if local.second or local.microsecond:
            seg("DTM", ("334", local.strftime("%Y%m%d%H%M%S"), "204"))
        else:
            seg("DTM", ("334", local.strftime("%Y%m%d%H%M"), "203"))
        count += 1
        if loc.code or loc.city:
            seg("LOC", "175", (esc(loc.code), "", "", esc(loc.city)))
            count += 1
        if loc.name or loc.state or loc.postal_code or loc.iso_country:
            seg("NAD", "ZZZ", "", "", esc(loc.name), "", "", esc(loc.state), esc(loc.postal_code), esc(loc.iso_country))
            count += 1
        if len(buf) > 2048:
            flush()
    if current is not None:
        seg("UNT", str(count + 1), msg_ref)
    seg("UNZ", str(messages), esc(ref))
    flush()
    return WriteSummary(messages, n_events, msg_no if messages else None)


def write_iftsta(
    events: Iterable[StatusEvent],
    profile: EdifactProfile,
    interchange_reference: int | str,
    first_message_reference: int = 1,
    *,
    created_at: datetime | None = None,
) -> bytes:
    """The whole interchange as bytes."""
    out = io.BytesIO()
    write_iftsta_stream(events, profile, out, interchange_reference, first_message_reference, created_at=created_at)
    return out.getvalue()
