"""Default code maps shipped as data: well formed, and only harmonised codes that exist."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
CODE_FILES = [ROOT / "carriers/adapters/x12_214/codes.csv", ROOT / "carriers/adapters/edifact_iftsta/codes.csv"]
HEADER = ["carrier_code", "carrier_sub_code", "milestone", "code", "sub_code", "note"]


def _taxonomy() -> set[tuple[str, str, str]]:
    with (ROOT / "tracking/taxonomy.csv").open(encoding="utf-8", newline="") as f:
        return {(r["milestone"], r["code"], r["sub_code"]) for r in csv.DictReader(f)}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == HEADER
        return list(reader)


@pytest.mark.parametrize("path", CODE_FILES, ids=lambda p: p.parent.name)
def test_every_mapping_targets_a_taxonomy_code(path: Path) -> None:
    taxonomy = _taxonomy()
    missing = [r for r in _rows(path) if (r["milestone"], r["code"], r["sub_code"]) not in taxonomy]
    assert missing == []


@pytest.mark.parametrize("path", CODE_FILES, ids=lambda p: p.parent.name)
def test_rows_are_unique_and_described(path: Path) -> None:
    rows = _rows(path)
    keys = [(r["carrier_code"], r["carrier_sub_code"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert all(r["carrier_code"] and r["note"].strip() for r in rows)


def test_x12_map_covers_the_common_at7_statuses() -> None:
    rows = {(r["carrier_code"], r["carrier_sub_code"]): r for r in _rows(CODE_FILES[0])}
    for code in ("X1", "D1", "X3", "AF", "CP", "X6", "X4", "P1", "A3", "A7", "A9", "AH", "AP", "SD", "CA"):
        assert (code, "") in rows, code
    assert rows[("D1", "")]["code"] == "delivered"
    # A reason code changes the meaning of an attempted delivery.
    assert rows[("AH", "A7")]["sub_code"] == "refused_by_recipient"
    assert rows[("AH", "A1")]["sub_code"] == "recipient_unavailable"
    assert rows[("AH", "")]["sub_code"] == "other"
