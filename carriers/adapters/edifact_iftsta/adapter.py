"""UN/EDIFACT IFTSTA (International multimodal status report) files, read by the ``edi`` library.

Carrier codes are the STS status event codes (data element 9011); the
status reason (9013) is the sub-code.
"""

from __future__ import annotations

from carriers.adapters.base import Adapter, CarrierError
from carriers.adapters.x12_214.adapter import edi_events
from tracking.types import CarrierEvent


class IftstaAdapter(Adapter):
    channels = frozenset({"sftp"})

    def parse(self, payload: bytes) -> list[CarrierEvent]:
        from edi.edifact.reader import iter_events

        if not payload.strip():
            raise CarrierError("EDIFACT IFTSTA: the file is empty", permanent=True)
        return edi_events(iter_events, payload, self.default_zone, "EDIFACT IFTSTA")
