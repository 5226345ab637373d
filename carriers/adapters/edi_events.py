"""EDI status records → tracking's CarrierEvent: where the pure ``edi`` library meets Gluey.

``edi`` reads X12 214, IFTSTA and CSV files into its own neutral
:class:`edi.model.StatusEvent` and knows nothing of the rest of the project
(docs/architecture.md, "edi is pure"); the file adapters call
:func:`edi_events` to run a reader and translate what it yields.

Public API::

    edi_events(reader, payload, *, default_zone, what) -> list[CarrierEvent]
    to_carrier_event(event: StatusEvent) -> CarrierEvent
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import IO

from carriers.adapters.base import CarrierError
from edi.errors import EdiError
from edi.model import StatusEvent
from tracking.types import CarrierEvent, Location

Reader = Callable[[IO[bytes], str], Iterable[StatusEvent]]


def edi_events(reader: Reader, payload: bytes, *, default_zone: str, what: str) -> list[CarrierEvent]:
    """Run an ``edi`` reader over the payload; an EDI error is a permanent CarrierError naming the format."""
    if not payload.strip():
        raise CarrierError(f"{what}: the file is empty", permanent=True)
    try:
        return [to_carrier_event(e) for e in reader(io.BytesIO(payload), default_zone)]
    except EdiError as exc:
        raise CarrierError(f"{what}: {exc}", permanent=True) from None


def to_carrier_event(event: StatusEvent) -> CarrierEvent:
    loc = event.location
    meta: list[tuple[str, str]] = []
    if event.scac:
        meta.append(("scac", event.scac))
    if event.shipper_id:
        meta.append(("shipper_id", event.shipper_id))
    meta.extend((f"ref_{q}" if q else "ref", v) for q, v in event.references if v)
    if event.quantity is not None:
        meta.append(("quantity", str(event.quantity)))
    # Where the time's zone came from (explicit, location or partner_default).
    meta.append(("zone_source", event.zone_source))
    meta.extend((k, v) for k, v in event.meta)
    return CarrierEvent(
        tracking_id=event.tracking_id,
        code=event.carrier_code,
        occurred_at=event.occurred_at,
        sub_code=event.carrier_sub_code,
        description=event.description,
        location=Location(
            city=loc.city,
            postal_code=loc.postal_code,
            iso_country=loc.iso_country,
            state=loc.state,
            name=loc.name,
            code=loc.code,
            code_type="UNLOCODE" if _is_locode(loc.code, loc.iso_country) else "",
            lat=loc.lat,
            lng=loc.lng,
        ),
        eta=event.eta,
        estimate=event.estimate,
        weight_kg=event.weight_kg(),
        meta=tuple(meta),
    )


def _is_locode(code: str, country: str) -> bool:
    return len(code) == 5 and code.isalnum() and bool(country) and code[:2].upper() == country
