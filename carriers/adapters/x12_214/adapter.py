"""ANSI X12 214 (Transportation Carrier Shipment Status) files, read by the ``edi`` library.

Carrier codes are the AT7 shipment status codes (AT7-01, e.g. ``D1``
delivered, ``X1`` arrived at delivery location); the status reason (AT7-02,
``NS`` normal) is the sub-code. Times without a zone are read in the
carrier's ``default_zone`` unless the event's place resolves to one.
"""

from __future__ import annotations

from carriers.adapters.base import Adapter
from carriers.adapters.edi_events import edi_events
from edi.x12.reader import iter_events
from tracking.types import CarrierEvent


class X12Adapter(Adapter):
    channels = frozenset({"sftp"})

    def parse(self, payload: bytes) -> list[CarrierEvent]:
        return edi_events(iter_events, payload, default_zone=self.default_zone, what="X12 214")
