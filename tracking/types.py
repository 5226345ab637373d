"""Neutral types every channel hands to the recording service.

Pure dataclasses: no Django imports, so adapters (and their EDI translation) can
build them without touching the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ParcelCondition(StrEnum):
    """Gluey's ParcelCondition: the parcel's condition as the carrier reported it."""

    GOOD = "good"
    DAMAGED = "damaged"
    UNKNOWN = "unknown"


class ImageFormat(StrEnum):
    """Gluey's ImageFormat, the format of a proof-of-delivery photo."""

    PNG = "png"
    JPEG = "jpeg"
    PDF = "pdf"
    GIF = "gif"
    BMP = "bmp"
    TIFF = "tiff"
    WEBP = "webp"
    SVG = "svg"


class LocationType(StrEnum):
    """Gluey's LocationType: what kind of place an event happened at."""

    AIRPORT = "airport"
    POST_OFFICE = "post_office"
    PUDO = "pudo"
    WAREHOUSE = "warehouse"
    DISTRIBUTION_CENTER = "distribution_center"
    CUSTOMS = "customs"
    SORTING_FACILITY = "sorting_facility"
    LOCAL_DEPOT = "local_depot"
    TRANSIT_CENTER = "transit_center"
    CUSTOMER_ADDRESS = "customer_address"
    RETURN_CENTER = "return_center"
    FREIGHT_TERMINAL = "freight_terminal"
    BORDER_CHECKPOINT = "border_checkpoint"
    REGIONAL_HUB = "regional_hub"
    DELIVERY_TRUCK = "delivery_truck"
    PARCEL_LOCKER = "parcel_locker"
    PORT = "port"
    RAIL_TERMINAL = "rail_terminal"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Location:
    """Where an event happened, as precisely as the carrier said."""

    city: str = ""
    postal_code: str = ""
    iso_country: str = ""
    state: str = ""
    street: str = ""
    name: str = ""
    # The carrier's own location code (a depot id, a UN/LOCODE, an IATA code)
    # and the carrier's own name for its kind ("SLIC", "UNLOCODE", "depot").
    code: str = ""
    code_type: str = ""
    # One of Gluey's LocationType values when the adapter knows what the place
    # is; otherwise the representation derives it from ``code_type``.
    type: str = ""
    description: str = ""
    lat: float | None = None
    lng: float | None = None

    def dedupe_key(self) -> str:
        """A short string that identifies the place for event deduplication.

        The same scan reaches us by several channels that name its place with
        different detail (UPS's Track API adds a SLIC depot code, Track Alert a
        postal code, both the city): a city with its country is the place when
        given; only without a city do the codes identify it.
        """
        if self.city.strip():
            parts: tuple[str, ...] = (self.city, self.iso_country)
        else:
            parts = (self.code, self.postal_code, self.iso_country)
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
    # Gluey's OtherUpdates, each where the carrier gave it (see tracking.representations).
    condition: str = ""  # a ParcelCondition value: good, damaged, unknown
    dimensions_cm: tuple[float, float | None, float | None] | None = None  # length, width, height
    shipping_cost: float | None = None
    shipping_cost_currency: str = ""  # ISO 4217, e.g. GBP
    co2_footprint_kg: float | None = None
    photo_base64: str = ""  # proof-of-delivery photo
    photo_format: str = ""  # an ImageFormat value: png, jpeg, pdf, ...
    # The carrier re-labelled the parcel: its new tracking number (and URL).
    new_tracking_id: str = ""
    new_tracking_url: str = ""
    # A forecast, not something that happened: the event carries an ETA and
    # never moves the shipment's state (tracking/state_rules.py).
    estimate: bool = False
    # Anything else the carrier sent that a customer may want, as key/value.
    meta: tuple[tuple[str, str], ...] = ()
