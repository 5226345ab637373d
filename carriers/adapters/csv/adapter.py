"""Status events as CSV files, read by ``edi.csvfile``.

The carrier's ``config.csv`` may map the library's field names to the
carrier's own column headers (``{"columns": {"tracking_id": "Barcode", …}}``)
and set the delimiter; without it the library's default headers apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

from carriers.adapters.base import Adapter, CarrierError
from carriers.adapters.edi_events import edi_events
from edi import csvfile
from edi.model import StatusEvent
from tracking.types import CarrierEvent


class CsvAdapter(Adapter):
    channels = frozenset({"sftp"})

    def parse(self, payload: bytes) -> list[CarrierEvent]:
        options = dict(self.config.get("csv") or {})

        def read(fileobj: IO[bytes], zone: str) -> Iterable[StatusEvent]:
            return csvfile.iter_events(fileobj, zone, **options)

        try:
            return edi_events(read, payload, default_zone=self.default_zone, what="CSV")
        except TypeError as exc:
            raise CarrierError(f"CSV: the carrier's csv settings are not understood: {exc}", permanent=True) from None
