"""Neutral types every channel hands to the recording service.

Pure dataclasses: no Django imports, so adapters (and their EDI translation) can
build them without touching the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Location:
    """Where an event happened, as precisely as the carrier said."""

    city: str = ""
    postal_code: str = ""
    iso_country: str = ""
    state: str = ""
    street: str = ""
    name: str = ""
    # The carrier's own location code (a depot id, a UN/LOCODE, an IATA code).
    code: str = ""
    code_type: str = ""
    description: str = ""
    lat: float | None = None
    lng: float | None = None

    def dedupe_key(self) -> str:
        """A short string that identifies the place for event deduplication."""
        parts = (self.code, self.postal_code, self.city, self.iso_country)
        return "|".join(p.strip().upper() for p in parts)

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) not in ("", None)}


@dataclass(frozen=True, slots=True)
class CarrierEvent:
    """One status event as a carrier reported it, before harmonisation."""

    tracking_id: str
    code: str
    occurred_at: datetime  # must be timezone-aware; the offset is kept
    sub_code: str = ""
    description: str = ""
    location: Location = field(default_factory=Location)
    eta: datetime | None = None
    signed_by: str = ""
    weight_kg: float | None = None
    # Anything else the carrier sent that a customer may want, as key/value.
    meta: tuple[tuple[str, str], ...] = ()
