"""Which channels a configured carrier actually uses (its adapter's, narrowed by its settings)."""

from __future__ import annotations

from carriers.adapters.registry import UnknownAdapter, adapter_class
from carriers.models import Carrier


def carrier_channels(carrier: Carrier) -> frozenset[str]:
    try:
        offered = adapter_class(carrier.adapter).channels
    except UnknownAdapter:
        return frozenset()
    channels = set()
    if "webhook" in offered:
        channels.add("webhook")
    # Polling is on for adapters that can poll unless the carrier turned it off
    # (e.g. a UPS account that only uses Track Alert).
    if "poll" in offered and carrier.config.get("polling", True) is not False:
        channels.add("poll")
    if carrier.config.get("host"):
        channels.add("sftp")
    return frozenset(channels)


def carrier_polls(carrier: Carrier) -> bool:
    return carrier.enabled and "poll" in carrier_channels(carrier)


def carrier_fetches_sftp(carrier: Carrier) -> bool:
    return "sftp" in carrier_channels(carrier)


def polling_adapters() -> list[str]:
    from carriers.adapters.registry import ADAPTERS

    return [name for name in ADAPTERS if "poll" in adapter_class(name).channels]
