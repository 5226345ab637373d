"""Carriers' CSV status files: read and write with a per-carrier mapping.

Public API::

    CsvProfile(columns=DEFAULT_COLUMNS, delimiter=",", encoding=None, date_format=None,
               zone=None, quotechar='"')
    CsvProfile.from_dict(mapping) -> CsvProfile          # e.g. a --csv-mapping JSON file
    iter_events(fileobj, default_zone="UTC", *, profile=None, **profile_fields) -> Iterator[StatusEvent]
    write_csv(events, profile=None) -> bytes
    write_csv_stream(events, fileobj, profile=None) -> WriteSummary

``columns`` maps our field names to the carrier's header names. Fields:
``tracking_id``, ``carrier_code`` and ``occurred_at`` are required (or
``date`` and ``time`` instead of ``occurred_at``); optional are
``carrier_sub_code``, ``description``, ``city``, ``state``, ``postal_code``,
``iso_country``, ``location_code``, ``location_name``, ``scac``,
``shipper_id``, ``weight``, ``weight_unit``, ``quantity`` and
``references`` (``QUAL=value;QUAL=value``). ``date_format`` is a
``strftime`` pattern (ISO 8601 when unset); times without an offset are in
``zone`` (default: the ``default_zone`` argument, the partner's zone).
``encoding`` is None (UTF-8, else windows-1252), "utf-8", "iso-8859-1" or
"windows-1252". The file is read as a stream of lines, never whole.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from math import isfinite
from typing import IO, Any

from edi.errors import EdiError
from edi.model import Location, StatusEvent
from edi.textio import iter_text, normalise_encoding
from edi.x12.writer import WriteSummary
from edi.zones import get_zone, normalise_country

DEFAULT_COLUMNS: dict[str, str] = {
    "tracking_id": "tracking_id",
    "carrier_code": "carrier_code",
    "carrier_sub_code": "carrier_sub_code",
    "occurred_at": "occurred_at",
    "description": "description",
    "city": "city",
    "state": "state",
    "postal_code": "postal_code",
    "iso_country": "iso_country",
    "location_code": "location_code",
}
_REQUIRED = frozenset({"tracking_id", "carrier_code", "occurred_at"})
FIELDS = frozenset(DEFAULT_COLUMNS) | {
    "date",
    "time",
    "location_name",
    "scac",
    "shipper_id",
    "weight",
    "weight_unit",
    "quantity",
    "references",
}


@dataclass(frozen=True)
class CsvProfile:
    columns: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_COLUMNS))
    delimiter: str = ","
    encoding: str | None = None
    date_format: str | None = None
    # For a separate time column, with date_format applying to the date column.
    time_format: str | None = None
    zone: str | None = None
    quotechar: str = '"'

    def __post_init__(self) -> None:
        unknown = set(self.columns) - FIELDS
        if unknown:
            raise EdiError(f"unknown CSV mapping fields: {', '.join(sorted(unknown))}")
        if "tracking_id" not in self.columns or "carrier_code" not in self.columns:
            raise EdiError("CSV mapping needs tracking_id and carrier_code columns")
        if "occurred_at" not in self.columns and "date" not in self.columns:
            raise EdiError("CSV mapping needs an occurred_at column (or date and time)")
        if len(self.delimiter) != 1 or len(self.quotechar) != 1:
            raise EdiError("CSV delimiter and quotechar must be single characters")
        normalise_encoding(self.encoding)
        if self.zone:
            get_zone(self.zone)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CsvProfile:
        if not isinstance(data, Mapping):
            raise EdiError("CSV mapping must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise EdiError(f"unknown CSV mapping settings: {', '.join(sorted(unknown))}")
        columns = data.get("columns")
        if columns is not None and (
            not isinstance(columns, Mapping) or not all(isinstance(v, str) for v in columns.values())
        ):
            raise EdiError("CSV mapping 'columns' must map field names to header names")
        values = dict(data)
        if columns is not None:
            values["columns"] = dict(columns)
        return cls(**values)


def _lines(fileobj: IO[bytes], encoding: str | None) -> Iterator[str]:
    """Lines with their newlines, from chunked text (csv needs them to see quoted line breaks)."""
    tail = ""
    for chunk in iter_text(fileobj, encoding):
        parts = (tail + chunk).split("\n")
        tail = parts.pop()
        for part in parts:
            yield part + "\n"
    if tail:
        yield tail


def _parse_when(value: str, fmt: str | None, zone: str, row: int, col: int, header: str) -> tuple[datetime, str]:
    value = value.strip()
    try:
        when = datetime.strptime(value, fmt) if fmt else datetime.fromisoformat(value)
    except ValueError:
        expected = fmt or "ISO 8601"
        raise EdiError(f"invalid date/time {value!r} (expected {expected})", row, header, col, unit="row") from None
    except re.error as exc:  # a format strptime cannot compile, e.g. "%H %H:%M" from date and time formats
        raise EdiError(f"the date/time format {fmt!r} cannot be used: {exc}", row, header, col, unit="row") from None
    if when.tzinfo is None or when.utcoffset() is None:
        return when.replace(tzinfo=get_zone(zone)), "partner_default"
    return when, "explicit"


def iter_events(
    fileobj: IO[bytes], default_zone: str = "UTC", *, profile: CsvProfile | None = None, **profile_fields: Any
) -> Iterator[StatusEvent]:
    """Yield one event per data row."""
    if profile is None:
        try:
            profile = CsvProfile.from_dict(profile_fields)
        except TypeError as exc:
            raise EdiError(f"CSV settings not understood: {exc}") from None
    elif profile_fields:
        raise EdiError("pass either a profile or profile fields, not both")
    zone = profile.zone or default_zone
    get_zone(zone)
    reader = csv.reader(
        _lines(fileobj, profile.encoding), delimiter=profile.delimiter, quotechar=profile.quotechar, strict=True
    )
    try:
        header = next(reader, None)
        if header is None:
            raise EdiError("CSV file is empty", 1, unit="row")
        header = [h.strip().lstrip("\ufeff") for h in header]
        index: dict[str, int] = {}
        # The default columns are a convention, not a contract: only the
        # required ones must be there. A carrier's own mapping must match.
        lenient = dict(profile.columns) == DEFAULT_COLUMNS
        for name, column in profile.columns.items():
            if column in header:
                index[name] = header.index(column)
            elif not lenient or name in _REQUIRED:
                raise EdiError(f"header has no column {column!r} (for {name})", 1, unit="row")
        width = max(index.values()) + 1
        for row in reader:
            n = reader.line_num
            if not row or not any(v.strip() for v in row):
                continue
            if len(row) < width:
                raise EdiError(f"row has {len(row)} columns, the mapping needs {width}", n, unit="row")
            yield _event(row, index, profile, zone, n, header)
    except csv.Error as exc:
        raise EdiError(f"malformed CSV: {exc}", reader.line_num, unit="row") from None


def _event(row: list[str], index: dict[str, int], p: CsvProfile, zone: str, n: int, header: list[str]) -> StatusEvent:
    def get(name: str) -> str:
        i = index.get(name)
        return row[i].strip() if i is not None else ""

    tracking, code = get("tracking_id"), get("carrier_code")
    if not tracking:
        raise EdiError("tracking id is empty", n, header[index["tracking_id"]], index["tracking_id"] + 1, unit="row")
    if not code:
        raise EdiError("carrier code is empty", n, header[index["carrier_code"]], index["carrier_code"] + 1, unit="row")
    if "occurred_at" in index:
        when, source = _parse_when(
            get("occurred_at"), p.date_format, zone, n, index["occurred_at"] + 1, header[index["occurred_at"]]
        )
    else:
        text, fmt = get("date"), p.date_format or "%Y-%m-%d"
        if "time" in index:
            text, fmt = f"{text} {get('time')}", f"{fmt} {p.time_format or '%H:%M:%S'}"
        when, source = _parse_when(text, fmt, zone, n, index["date"] + 1, header[index["date"]])
    weight = quantity = None
    try:
        if get("weight"):
            weight = float(get("weight").replace(",", "."))
            if not isfinite(weight):
                raise ValueError(weight)
        if get("quantity"):
            quantity = int(get("quantity"))
    except ValueError:
        raise EdiError("weight or quantity is not a number", n, unit="row") from None
    refs: list[tuple[str, str]] = []
    for item in get("references").split(";"):
        if item.strip():
            qualifier, _, value = item.partition("=")
            refs.append((qualifier.strip(), value.strip()))
    return StatusEvent(
        tracking_id=tracking,
        carrier_code=code,
        occurred_at=when,
        carrier_sub_code=get("carrier_sub_code"),
        zone_source=source,  # type: ignore[arg-type]
        description=get("description"),
        location=Location(
            city=get("city"),
            state=get("state"),
            postal_code=get("postal_code"),
            iso_country=normalise_country(get("iso_country")),
            code=get("location_code"),
            name=get("location_name"),
        ),
        references=tuple(refs),
        scac=get("scac"),
        shipper_id=get("shipper_id"),
        weight=weight,
        weight_unit=get("weight_unit"),
        quantity=quantity,
    )


def _cell(ev: StatusEvent, name: str, p: CsvProfile, zone: str) -> str:
    loc = ev.location
    if name in ("occurred_at", "date", "time"):
        when = ev.occurred_at
        if p.date_format or p.zone:
            when = when.astimezone(get_zone(zone))
        if name == "occurred_at":
            return when.strftime(p.date_format) if p.date_format else when.isoformat()
        if name == "date":
            return when.strftime(p.date_format or "%Y-%m-%d")
        return when.strftime(p.time_format or "%H:%M:%S")
    simple = {
        "tracking_id": ev.tracking_id,
        "carrier_code": ev.carrier_code,
        "carrier_sub_code": ev.carrier_sub_code,
        "description": ev.description,
        "city": loc.city,
        "state": loc.state,
        "postal_code": loc.postal_code,
        "iso_country": loc.iso_country,
        "location_code": loc.code,
        "location_name": loc.name,
        "scac": ev.scac,
        "shipper_id": ev.shipper_id,
        "weight_unit": ev.weight_unit,
    }
    if name in simple:
        return simple[name]
    if name == "weight":
        return "" if ev.weight is None else repr(ev.weight)
    if name == "quantity":
        return "" if ev.quantity is None else str(ev.quantity)
    return ";".join(f"{q}={v}" for q, v in ev.references)


def write_csv_stream(
    events: Iterable[StatusEvent], fileobj: IO[bytes], profile: CsvProfile | None = None
) -> WriteSummary:
    """Write a header row and one row per event."""
    p = profile or CsvProfile()
    zone = p.zone or "UTC"
    encoding = normalise_encoding(p.encoding) or "utf-8"
    text = io.StringIO()
    writer = csv.writer(text, delimiter=p.delimiter, quotechar=p.quotechar, lineterminator="\r\n")
    names = list(p.columns)
    writer.writerow([p.columns[n] for n in names])
    count = 0
    for ev in events:
        if ev.occurred_at.tzinfo is None:
            raise EdiError(f"event for {ev.tracking_id!r} has a naive occurred_at")
        writer.writerow([_cell(ev, n, p, zone) for n in names])
        count += 1
        if count % 2048 == 0:
            _flush(text, fileobj, encoding)
    _flush(text, fileobj, encoding)
    return WriteSummary(count, count, None)


def _flush(text: io.StringIO, fileobj: IO[bytes], encoding: str) -> None:
    try:
        fileobj.write(text.getvalue().encode(encoding))
    except UnicodeEncodeError as exc:
        raise EdiError(f"a value cannot be written in {encoding}: {exc.object[exc.start : exc.end]!r}") from None
    text.seek(0)
    text.truncate()


def write_csv(events: Iterable[StatusEvent], profile: CsvProfile | None = None) -> bytes:
    out = io.BytesIO()
    write_csv_stream(events, out, profile)
    return out.getvalue()
