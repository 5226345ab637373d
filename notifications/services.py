"""Writes for notifications."""

from __future__ import annotations

from typing import Any


def outbox_write_for_events(sender: Any, *, events: list, shipments: dict, parcels: dict, **kwargs: Any) -> None:
    """Receiver of tracking's ``events_recorded``: runs inside the recording transaction."""
    return None
