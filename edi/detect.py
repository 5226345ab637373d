"""Which format a file is in, and its events whatever the format.

Public API::

    detect_format(head: bytes) -> "x12" | "edifact" | "csv"
    iter_events(fileobj, csv_mapping=None, default_zone="UTC", *, encoding=None) -> Iterator[StatusEvent]

X12 starts with ``ISA``, EDIFACT with ``UNA`` or ``UNB`` (after any byte
order mark or blank lines); anything else is read as CSV, with
``csv_mapping`` (a :class:`~edi.csvfile.CsvProfile` or a dict of its
fields) or the default columns. The first bytes are read once and replayed,
so non-seekable streams work.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import IO, Any

from edi import csvfile
from edi.edifact import reader as edifact_reader
from edi.model import StatusEvent
from edi.textio import PrefixedReader
from edi.x12 import reader as x12_reader

_HEAD = 64


def detect_format(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n\x00")
    if text.startswith(b"ISA"):
        return "x12"
    if text.startswith((b"UNA", b"UNB")):
        return "edifact"
    return "csv"


def open_detected(fileobj: IO[bytes]) -> tuple[str, IO[bytes]]:
    """(format, a reader that still yields every byte of the file)."""
    head = fileobj.read(_HEAD)
    if isinstance(head, str):
        head = head.encode("utf-8", errors="replace")
    return detect_format(head), PrefixedReader(head, fileobj)  # type: ignore[return-value]


def iter_events(
    fileobj: IO[bytes],
    csv_mapping: csvfile.CsvProfile | Mapping[str, Any] | None = None,
    default_zone: str = "UTC",
    *,
    encoding: str | None = None,
) -> Iterator[StatusEvent]:
    fmt, stream = open_detected(fileobj)
    if fmt == "x12":
        yield from x12_reader.iter_events(stream, default_zone, encoding=encoding)
    elif fmt == "edifact":
        yield from edifact_reader.iter_events(stream, default_zone, encoding=encoding)
    else:
        if csv_mapping is None:
            profile = csvfile.CsvProfile(encoding=encoding)
        elif isinstance(csv_mapping, csvfile.CsvProfile):
            profile = csv_mapping
        else:
            profile = csvfile.CsvProfile.from_dict(csv_mapping)
        yield from csvfile.iter_events(stream, default_zone, profile=profile)
