"""Neutral dataclasses the readers produce and the writers consume.

Nothing here knows about a file format: an X12 214, an IFTSTA message and a
CSV row all become the same :class:`StatusEvent`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from edi.zones import normalise_country

ZoneSource = Literal["explicit", "coordinates", "location", "partner_default"]


@dataclass(frozen=True, slots=True)
class Location:
    """Where an event happened, as the file said it (immutable, so readers
    can share one object between the many events at the same place)."""

    city: str = ""
    state: str = ""
    postal_code: str = ""
    iso_country: str = ""
    # A carrier or UN/LOCODE location code (EDIFACT LOC, CSV column).
    code: str = ""
    name: str = ""
    # Decimal degrees (X12 MS1 coordinates), when the file gives them.
    lat: float | None = None
    lng: float | None = None

    def is_empty(self) -> bool:
        return not (
            self.city
            or self.state
            or self.postal_code
            or self.iso_country
            or self.code
            or self.name
            or self.lat is not None
        )

    def as_dict(self) -> dict[str, str | float]:
        return {
            k: v
            for k, v in (
                ("city", self.city),
                ("state", self.state),
                ("postal_code", self.postal_code),
                ("iso_country", self.iso_country),
                ("code", self.code),
                ("name", self.name),
                ("lat", self.lat),
                ("lng", self.lng),
            )
            if v not in ("", None)
        }


@dataclass(slots=True)
class StatusEvent:
    """One shipment status event, format-neutral.

    ``occurred_at`` is always timezone-aware. ``zone_source`` says where its
    zone came from: ``explicit`` (the file gave a zone or offset),
    ``coordinates`` or ``location`` (resolved from the event's point or
    place, see :mod:`edi.zones`) or ``partner_default``
    (the trading partner's configured zone).
    """

    tracking_id: str
    carrier_code: str
    occurred_at: datetime
    carrier_sub_code: str = ""
    zone_source: ZoneSource = "explicit"
    description: str = ""
    location: Location = field(default_factory=Location)
    # (qualifier, value) pairs: X12 L11 qualifiers, EDIFACT RFF qualifiers.
    references: tuple[tuple[str, str], ...] = ()
    scac: str = ""
    shipper_id: str = ""
    eta: datetime | None = None
    weight: float | None = None
    # "K" kilograms or "L" pounds, as X12 AT8 says it.
    weight_unit: str = ""
    quantity: int | None = None
    # Anything else worth passing on (equipment, lading exceptions...).
    meta: tuple[tuple[str, str], ...] = ()
    # A forecast (X12 AT7 AG "estimated delivery"...): ``eta`` is the forecast,
    # ``occurred_at`` when the sender reported it, never the forecast itself.
    estimate: bool = False

    def weight_kg(self) -> float | None:
        if self.weight is None:
            return None
        if self.weight_unit == "L":
            return round(self.weight * 0.45359237, 3)
        return self.weight


@dataclass(slots=True)
class Party:
    """An N1 loop (X12) or NAD segment (EDIFACT)."""

    role: str
    name: str = ""
    id_qualifier: str = ""
    id: str = ""
    address: tuple[str, ...] = ()
    city: str = ""
    state: str = ""
    postal_code: str = ""
    iso_country: str = ""


@dataclass(slots=True)
class Transaction:
    """One X12 transaction set (ST..SE) or one EDIFACT message (UNH..UNT)."""

    set_id: str
    control_number: str
    # X12: the GS08 version (e.g. "004010"); EDIFACT: the directory ("D:96A").
    release: str
    tracking_id: str = ""
    shipper_id: str = ""
    scac: str = ""
    references: tuple[tuple[str, str], ...] = ()
    events: list[StatusEvent] = field(default_factory=list)
    # Position in the file of the header segment, for error messages.
    segment_number: int = 0
    group_control_number: str = ""
    interchange_control_number: str = ""
    # Parties are built on first use: most callers only want the events, and
    # N1-N4 loops are a third of a typical 214's segments. An X12 reader
    # leaves the raw header text here; an EDIFACT reader sets parties.
    header_text: str = ""
    element_separator: str = "*"
    segment_terminator: str = "~"
    _parties: tuple[Party, ...] | None = None

    @property
    def parties(self) -> tuple[Party, ...]:
        if self._parties is None:
            segments = self.header_text.split(self.segment_terminator) if self.header_text else []
            self._parties = _x12_parties(segments, self.element_separator)
        return self._parties

    @parties.setter
    def parties(self, value: tuple[Party, ...]) -> None:
        self._parties = tuple(value)


@dataclass(slots=True)
class GroupInfo:
    """A functional group (GS..GE) as read, for acknowledgments."""

    functional_id: str
    control_number: str
    sender_id: str
    receiver_id: str
    version: str
    # GS04/GS05, the group's creation date and time in the partner's zone
    # (None when they do not parse): when the statuses in it were reported.
    created: datetime | None = None


@dataclass(slots=True)
class InterchangeInfo:
    """An interchange envelope (ISA..IEA or UNB..UNZ) as read."""

    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    control_number: str
    version: str
    test: bool = False


def _x12_parties(segments: list[str], sep: str) -> tuple[Party, ...]:
    """Parties from X12 N1-N4 segments (in the order the 214 header has them)."""
    parties: list[Party] = []
    party: Party | None = None
    for raw in segments:
        el = raw.split(sep) + [""] * 5
        tag = el[0]
        if tag == "N1":
            party = Party(el[1], el[2], el[3], el[4])
            parties.append(party)
        elif party is None:
            continue
        elif tag == "N2" and el[1]:
            party.name = f"{party.name} {el[1]}".strip()
        elif tag == "N3":
            party.address += tuple(v for v in el[1:3] if v)
        elif tag == "N4":
            party.city, party.state, party.postal_code = el[1], el[2], el[3]
            party.iso_country = normalise_country(el[4])
    return tuple(parties)
