"""Fuzz every carrier adapter in the registry, then what it produces.

Inputs are the adapter's own real-shaped fixtures
(``carriers/adapters/<adapter>/fixtures/``) mutated by structure: JSON values
replaced, removed, retyped or multiplied; EDI segments and elements damaged;
CSV cells mangled — plus plain garbage.

Two promises: ``parse`` returns events or raises ``CarrierError`` (never
anything else, and never the EDI guard's "unexpected parse failure"); and
whatever ``parse`` returns, the recording service stores or refuses with
``InvalidEvent`` — it does not fail in the database (a value longer than its
column, a time PostgreSQL cannot store). The second needs PostgreSQL to
enforce column sizes; SQLite would accept anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carriers.adapters.base import CarrierError
from carriers.adapters.registry import ADAPTERS, adapter_class
from carriers.models import Carrier
from tests.carriers.adapter_cases import StandInCarrier, fixtures_dir
from tests.fuzz.strategies import (
    FUZZ,
    FUZZ_DB,
    damaged,
    json_bytes,
    json_values,
    label,
    mutated_csv,
    mutated_edifact,
    mutated_json,
    mutated_x12,
    stretched_json,
)
from tracking.services import InvalidEvent, events_record
from tracking.types import CarrierEvent

pytestmark = pytest.mark.slow  # Hypothesis fuzzing

EDI_MUTATORS = {"x12_214": mutated_x12, "edifact_iftsta": mutated_edifact, "csv": mutated_csv}


def inputs(adapter: str) -> list[Path]:
    return sorted(p for p in fixtures_dir(adapter).glob("*") if p.is_file() and not p.name.endswith(".expected.json"))


def payloads(adapter: str) -> st.SearchStrategy[bytes]:
    sources = inputs(adapter)
    garbage = st.binary(max_size=200) | json_values.map(json_bytes)
    if adapter in EDI_MUTATORS:
        mutate = EDI_MUTATORS[adapter]
        return (
            st.sampled_from(sources).flatmap(
                lambda p: mutate(p.read_bytes()) | mutate(p.read_bytes()).flatmap(damaged) | damaged(p.read_bytes())
            )
            | garbage
        )
    return (
        st.sampled_from(sources).flatmap(
            lambda p: (
                mutated_json(json.loads(p.read_bytes())).map(json_bytes)
                | stretched_json(json.loads(p.read_bytes())).map(json_bytes)
                | damaged(p.read_bytes())
            )
        )
        | garbage
    )


def parse(adapter: str, payload: bytes, zone: str) -> list[CarrierEvent] | None:
    stand_in = StandInCarrier(pk=f"fuzz-{adapter}", adapter=adapter, default_zone=zone)
    instance = adapter_class(adapter)(stand_in)  # type: ignore[arg-type]  # duck-typed Carrier
    try:
        events = instance.parse(payload)
    except CarrierError as exc:
        assert "unexpected parse failure" not in str(exc), f"{adapter}: internal error behind the EDI guard: {exc}"
        assert str(exc), f"{adapter}: a CarrierError without a message"
        label("CarrierError")
        return None
    assert isinstance(events, list), f"{adapter}: parse returned {type(events).__name__}"
    for item in events:
        assert isinstance(item, CarrierEvent), f"{adapter}: parse returned a {type(item).__name__}"
    label("events" if events else "no events")
    return events


def test_every_registered_adapter_has_fixtures_to_fuzz():
    # A new adapter without real-shaped fixtures would escape the fuzzing below.
    assert {name: bool(inputs(name)) for name in ADAPTERS} == {name: True for name in ADAPTERS}


ZONES = st.sampled_from(["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"])


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
def test_parse_returns_events_or_raises_carrier_error(adapter: str) -> None:
    @FUZZ
    @given(payload=payloads(adapter), zone=ZONES)
    def fuzz(payload: bytes, zone: str) -> None:
        parse(adapter, payload, zone)

    fuzz()


class _Rollback(Exception):
    pass


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
def test_whatever_parse_returns_is_recorded_or_refused_never_a_database_error(postgres_only, adapter: str) -> None:
    from django.db import transaction

    carrier = Carrier.objects.create(id=f"fuzz-{adapter.replace('_', '-')}", adapter=adapter)

    @FUZZ_DB
    @given(payload=payloads(adapter), zone=ZONES)
    def fuzz(payload: bytes, zone: str) -> None:
        events = parse(adapter, payload, zone)
        if not events:
            return
        try:
            with transaction.atomic():
                events_record(carrier=carrier, events=events, channel="webhook")
                raise _Rollback  # keep the database small; what matters is that it was accepted
        except _Rollback:
            label("recorded")
        except InvalidEvent as exc:
            label(f"refused: {str(exc).split(':')[-1].strip()[:40]}")

    fuzz()


def test_parse_payload_strategies_reach_events_for_each_adapter() -> None:
    # The fixtures themselves parse to events: the mutations start from something valid.
    for adapter in ADAPTERS:
        produced = [parse(adapter, p.read_bytes(), "UTC") for p in inputs(adapter)]
        assert any(produced), f"{adapter}: no fixture parses to events"
