"""EDI: read and write carriers' status files, as a pure library.

Owns the formats, not the data: X12 214 shipment status (releases 4010 and
5010) with 997 acknowledgments, UN/EDIFACT IFTSTA, and carriers' CSV status
files. Bytes in, :class:`~edi.model.StatusEvent` dataclasses out, and back.
Nothing here imports Django or any app, or touches the database (the
``manage.py edi`` command aside); carriers' file adapters translate
StatusEvents into their own events (``carriers/adapters/edi_events.py``).

Readers stream: they take a binary file object, read it in chunks and yield
transactions or events as they go. Anything malformed raises one exception
type, :class:`~edi.errors.EdiError`, naming the segment and element.

Public functions (see each module's docstring for signatures):

- ``edi.x12.reader``: ``iter_transactions``, ``iter_events``, ``validate``
- ``edi.x12.writer``: ``X12Profile``, ``write_x12_214``, ``write_x12_214_stream``
- ``edi.x12.ack``: ``build_997``
- ``edi.edifact.reader``: ``iter_transactions``, ``iter_events``
- ``edi.edifact.writer``: ``EdifactProfile``, ``write_iftsta``, ``write_iftsta_stream``
- ``edi.csvfile``: ``CsvProfile``, ``iter_events``, ``write_csv``, ``write_csv_stream``
- ``edi.detect``: ``detect_format``, ``iter_events`` (any of the three formats)

The most used names are re-exported here (``edi.iter_events`` reads any of
the three formats).
"""

from edi.csvfile import CsvProfile, write_csv
from edi.detect import detect_format, iter_events
from edi.edifact.writer import EdifactProfile, write_iftsta
from edi.errors import EdiError
from edi.model import (
    GroupInfo,
    InterchangeInfo,
    Location,
    Party,
    StatusEvent,
    Transaction,
)
from edi.x12.ack import build_997
from edi.x12.writer import X12Profile, write_x12_214

__all__ = [
    "CsvProfile",
    "EdiError",
    "EdifactProfile",
    "GroupInfo",
    "InterchangeInfo",
    "Location",
    "Party",
    "StatusEvent",
    "Transaction",
    "X12Profile",
    "build_997",
    "detect_format",
    "iter_events",
    "write_csv",
    "write_iftsta",
    "write_x12_214",
]
