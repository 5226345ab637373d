"""Fixture discovery and the neutral serialisation the adapter tests compare against.

Each ``carriers/adapters/<adapter>/fixtures/<scenario>.json`` (or ``.edi``/``.csv``)
sits beside ``<scenario>.expected.json``: the list of events ``parse`` must
return. Adapters are built without a database: a stand-in carrier supplies
config and the default zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import carriers.adapters
from tracking.types import CarrierEvent

ADAPTERS_DIR = Path(carriers.adapters.__file__).resolve().parent


def fixtures_dir(adapter: str) -> Path:
    """Where an adapter's real-shaped inputs and expected outputs live: beside its code."""
    return ADAPTERS_DIR / adapter / "fixtures"


@dataclass
class StandInCarrier:
    pk: str = "test-carrier"
    adapter: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, Any] = field(default_factory=dict)
    default_zone: str = "UTC"
    webhook_secret: str = ""


def event_as_dict(event: CarrierEvent) -> dict[str, Any]:
    return {
        "tracking_id": event.tracking_id,
        "code": event.code,
        "sub_code": event.sub_code,
        "description": event.description,
        "occurred_at": event.occurred_at.isoformat(),
        "location": event.location.as_dict(),
        "eta": event.eta.isoformat() if event.eta else None,
        "signed_by": event.signed_by,
        "weight_kg": event.weight_kg,
        "meta": [list(pair) for pair in event.meta],
        # Gluey's OtherUpdates and a re-label, only where the adapter set them.
        **{name: getattr(event, name) for name in _OTHER_FIELDS if getattr(event, name) not in ("", None)},
    }


_OTHER_FIELDS = (
    "condition",
    "shipping_cost",
    "shipping_cost_currency",
    "co2_footprint_kg",
    "photo_format",
    "new_tracking_id",
    "new_tracking_url",
)


def cases() -> list[tuple[str, Path]]:
    found = []
    for expected in sorted(ADAPTERS_DIR.glob("*/fixtures/*.expected.json")):
        scenario = expected.name[: -len(".expected.json")]
        inputs = [p for p in expected.parent.glob(f"{scenario}.*") if not p.name.endswith(".expected.json")]
        if len(inputs) != 1:
            raise AssertionError(f"{expected}: expected exactly one input file beside it, found {inputs}")
        found.append((expected.parent.parent.name, inputs[0]))
    return found
