"""ANSI X12 214 (Transportation Carrier Shipment Status) files, read by the ``edi`` library.

Carrier codes are the AT7 shipment status codes (AT7-01, e.g. ``D1``
delivered, ``X1`` arrived at delivery location); the status reason (AT7-02,
``NS`` normal) is the sub-code. Times without a zone are read in the
carrier's ``default_zone`` unless the event's place resolves to one.
"""

from __future__ import annotations

import io

from carriers.adapters.base import Adapter, CarrierError
from tracking.types import CarrierEvent


def edi_events(reader: object, payload: bytes, default_zone: str, what: str) -> list[CarrierEvent]:
    """Run an ``edi`` reader over the payload and bridge its events; EDI errors become permanent CarrierErrors."""
    from edi.bridge import to_carrier_events
    from edi.errors import EdiError

    try:
        return to_carrier_events(reader(io.BytesIO(payload), default_zone))  # type: ignore[operator]
    except EdiError as exc:
        raise CarrierError(f"{what}: {exc}", permanent=True) from None


class X12Adapter(Adapter):
    channels = frozenset({"sftp"})

    def parse(self, payload: bytes) -> list[CarrierEvent]:
        from edi.x12.reader import iter_events

        if not payload.strip():
            raise CarrierError("X12 214: the file is empty", permanent=True)
        return edi_events(iter_events, payload, self.default_zone, "X12 214")
