"""Status events as CSV files, read by ``edi.csvfile``.

The carrier's ``config.csv`` may map the library's field names to the
carrier's own column headers (``{"columns": {"tracking_id": "Barcode", …}}``)
and set the delimiter; without it the library's default headers apply.
"""

from __future__ import annotations

import io

from carriers.adapters.base import Adapter, CarrierError
from tracking.types import CarrierEvent


class CsvAdapter(Adapter):
    channels = frozenset({"sftp"})

    def parse(self, payload: bytes) -> list[CarrierEvent]:
        from edi import csvfile
        from edi.bridge import to_carrier_events
        from edi.errors import EdiError

        if not payload.strip():
            raise CarrierError("CSV: the file is empty", permanent=True)
        options = dict(self.config.get("csv") or {})
        try:
            return to_carrier_events(csvfile.iter_events(io.BytesIO(payload), self.default_zone, **options))
        except EdiError as exc:
            raise CarrierError(f"CSV: {exc}", permanent=True) from None
        except TypeError as exc:
            raise CarrierError(f"CSV: the carrier's csv settings are not understood: {exc}", permanent=True) from None
