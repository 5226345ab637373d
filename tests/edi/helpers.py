"""Shared helpers for the EDI tests (plain functions: no Django, no database)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import IO, Any, cast

from edi.model import StatusEvent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "edi"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def event_dict(event: StatusEvent) -> dict[str, Any]:
    """Everything an event says, JSON-friendly, for golden comparisons."""
    return {
        "tracking_id": event.tracking_id,
        "carrier_code": event.carrier_code,
        "carrier_sub_code": event.carrier_sub_code,
        "occurred_at": event.occurred_at.isoformat(),
        "zone_source": event.zone_source,
        "description": event.description,
        "location": event.location.as_dict(),
        "references": [list(r) for r in event.references],
        "scac": event.scac,
        "shipper_id": event.shipper_id,
        "eta": event.eta.isoformat() if event.eta else None,
        "weight": event.weight,
        "weight_unit": event.weight_unit,
        "quantity": event.quantity,
        "meta": [list(m) for m in event.meta],
        **({"estimate": True} if event.estimate else {}),
    }


def expected(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class Trickle(io.RawIOBase):
    """A binary stream that hands out at most ``step`` bytes per read.

    Readers ask for large chunks; real streams (sFTP, pipes) may return less,
    and every chunk boundary is a chance to split a segment, a UTF-8
    character or a release sequence in the wrong place.
    """

    def __init__(self, data: bytes, step: int = 7) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = len(self._data)
        n = min(size, self._step)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out


def trickle(data: bytes, step: int = 7) -> IO[bytes]:
    """A Trickle, typed as the binary stream the readers declare they take."""
    return cast(IO[bytes], Trickle(data, step))
