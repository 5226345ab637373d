"""UN/EDIFACT IFTSTA (International multimodal status report) files, read by the ``edi`` library.

Carrier codes are the STS status event codes (data element 9011); the
status reason (9013) is the sub-code.
"""

from __future__ import annotations

from carriers.adapters.base import Adapter
from carriers.adapters.edi_events import edi_events
from edi.edifact.reader import iter_events
from tracking.types import CarrierEvent


class IftstaAdapter(Adapter):
    channels = frozenset({"sftp"})

    def parse(self, payload: bytes) -> list[CarrierEvent]:
        return edi_events(iter_events, payload, default_zone=self.default_zone, what="EDIFACT IFTSTA")
