"""Which configured carrier issued a tracking number.

A carrier's formats are its adapter's ``number_formats`` (ids in
``carriers/numbers/formats.toml``), or, for a carrier on a format-neutral
adapter (generic_json, x12_214, csv, edifact_iftsta), the ids in its config's
``number_formats``; ``number_pattern`` (a regex) adds an in-house format with no
check digit. Only enabled carriers are considered: a number is never matched to
a carrier we cannot track it with.

``carriers_detect`` is installed into tracking as its carrier detector
(``carriers.apps``), so registration can use it without importing carriers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from carriers.adapters.registry import UnknownAdapter, adapter_class
from carriers.models import Carrier
from carriers.numbers import format_matches, formats, normalise, unknown_formats
from tracking.detection import CarrierCandidate, CarrierDetection

# A carrier's own pattern has no check digit: any string of that shape matches.
PATTERN_CONFIDENCE = 0.3
PATTERN_FORMAT = "pattern"


@dataclass(frozen=True)
class ConfiguredCarrier:
    carrier_id: str
    name: str
    adapter: str
    number_formats: tuple[str, ...]
    number_pattern: str


def carrier_number_formats(carrier: Carrier) -> tuple[str, ...]:
    listed = carrier.config.get("number_formats")
    if isinstance(listed, list) and listed:
        return tuple(str(i) for i in listed)
    try:
        return adapter_class(carrier.adapter).number_formats
    except UnknownAdapter:
        return ()


def carriers_configured() -> list[ConfiguredCarrier]:
    """Enabled carriers with the number formats they issue (no credentials are read)."""
    rows = Carrier.objects.filter(enabled=True).only("id", "name", "adapter", "config").order_by("id")
    return [
        ConfiguredCarrier(
            carrier_id=c.pk,
            name=c.name or c.pk,
            adapter=c.adapter,
            number_formats=carrier_number_formats(c),
            number_pattern=str(c.config.get("number_pattern") or ""),
        )
        for c in rows
    ]


def carriers_detect(tracking_id: str) -> CarrierDetection:
    number = normalise(tracking_id)
    configured = carriers_configured()
    candidates: list[CarrierCandidate] = []
    for carrier in configured:
        matched = format_matches(number, carrier.number_formats)
        if matched:
            best = matched[0]
            candidates.append(CarrierCandidate(carrier.carrier_id, carrier.name, best.id, best.name, best.confidence))
        elif carrier.number_pattern and re.fullmatch(carrier.number_pattern, number):
            candidates.append(
                CarrierCandidate(
                    carrier.carrier_id, carrier.name, PATTERN_FORMAT, f"{carrier.name} pattern", PATTERN_CONFIDENCE
                )
            )
    candidates.sort(key=lambda c: (-c.confidence, c.carrier_id))
    return CarrierDetection(
        tracking_id=tracking_id,
        candidates=tuple(candidates),
        configured=tuple((c.carrier_id, c.name) for c in configured),
    )


def number_config_problems(config: dict[str, Any]) -> list[str]:
    """What is wrong with a carrier config's ``number_formats`` / ``number_pattern``."""
    problems = []
    listed = config.get("number_formats")
    if listed is not None:
        if not isinstance(listed, list) or not all(isinstance(i, str) for i in listed):
            problems.append("number_formats must be a list of format ids")
        elif unknown := unknown_formats(listed):
            problems.append(
                f"number_formats: unknown format(s) {', '.join(unknown)} (known: {', '.join(sorted(formats()))})"
            )
    pattern = config.get("number_pattern")
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            problems.append(f"number_pattern is not a valid regular expression: {exc}")
    return problems
