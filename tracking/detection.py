"""The seam through which registration asks which carrier issued a number.

Tracking knows shipments, not carriers' number formats: those belong to the
carrier adapters (docs/architecture.md, layering). So tracking declares what it
needs — a function from a tracking number to a ``CarrierDetection`` — and the
carriers app installs one when it starts (``carriers.apps``), the same way the
notifications app connects its receiver to ``events_recorded``. Without one
installed, a registration must name its carrier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CarrierCandidate:
    """A configured carrier whose number format the tracking number satisfies."""

    carrier_id: str
    carrier_name: str
    format_id: str
    format_name: str
    confidence: float

    def as_dict(self) -> dict[str, object]:
        return {
            "carrier_id": self.carrier_id,
            "name": self.carrier_name,
            "format": self.format_id,
            "format_name": self.format_name,
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class CarrierDetection:
    tracking_id: str
    # Most confident first.
    candidates: tuple[CarrierCandidate, ...]
    # Every carrier configured here, (carrier_id, name), so a miss can list them.
    configured: tuple[tuple[str, str], ...]


CarrierDetector = Callable[[str], CarrierDetection]

_detector: CarrierDetector | None = None


class DetectionUnavailable(LookupError):
    pass


def carrier_detector_install(detector: CarrierDetector | None) -> None:
    global _detector
    _detector = detector


def carrier_detect(*, tracking_id: str) -> CarrierDetection:
    if _detector is None:
        raise DetectionUnavailable("carrier detection is not available; name the carrier_id")
    return _detector(tracking_id)
