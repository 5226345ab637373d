"""``manage.py edi inspect|validate|ack`` (needs Django settings; no database)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.edi.helpers import FIXTURES

ROOT = Path(__file__).resolve().parent.parent.parent


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("edi", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "count", "first"),
    [
        (
            "x12_4010_two_groups.edi",
            9,
            {
                "tracking_id": "7741002231",
                "carrier_code": "X3",
                "carrier_sub_code": "NS",
                "occurred_at": "2026-03-02T08:15:00-06:00",
                "location": {"city": "CHICAGO", "state": "IL", "iso_country": "US"},
                "zone_source": "location",
            },
        ),
        (
            "iftsta_d96a.edi",
            4,
            {
                "tracking_id": "70713300012345678",
                "carrier_code": "21",
                "carrier_sub_code": "Z1",
                "occurred_at": "2026-03-10T09:30:00+01:00",
                "location": {"city": "COPENHAGEN", "iso_country": "DK", "code": "DKCPH"},
                "zone_source": "location",
            },
        ),
        (
            "default_columns.csv",
            3,
            {
                "tracking_id": "1Z999AA10123456784",
                "carrier_code": "DL",
                "carrier_sub_code": "",
                "occurred_at": "2026-03-12T14:03:00-05:00",
                "location": {"city": "Austin", "state": "TX", "postal_code": "78701", "iso_country": "US"},
                "zone_source": "explicit",
            },
        ),
    ],
)
def test_inspect_prints_one_json_object_per_event(name: str, count: int, first: dict) -> None:
    lines = _run("inspect", str(FIXTURES / name)).splitlines()
    assert len(lines) == count
    assert json.loads(lines[0]) == first


def test_inspect_csv_with_mapping_file() -> None:
    lines = _run(
        "inspect",
        str(FIXTURES / "carrier_status_semicolon.csv"),
        "--csv-mapping",
        str(FIXTURES / "carrier_status_semicolon.mapping.json"),
    ).splitlines()
    assert json.loads(lines[2])["location"]["city"] == "Düsseldorf"


def test_validate_good_and_bad_files() -> None:
    assert "no problems found" in _run("validate", str(FIXTURES / "x12_4010_two_groups.edi"))
    out = io.StringIO()
    with pytest.raises(CommandError, match="8 problems found"):
        call_command("edi", "validate", str(FIXTURES / "x12_5010_envelope_errors.edi"), stdout=out)
    assert "segment 13 (SE) element 2: SE02 '1009' does not match ST02 '1002'" in out.getvalue()


def test_ack_writes_997_to_stdout_or_file(tmp_path: Path) -> None:
    text = _run("ack", str(FIXTURES / "x12_4010_two_groups.edi"), "--control-number", "12")
    assert text.startswith("ISA*") and "ST*997*0001~" in text and "AK9*A*2*2*2~" in text
    target = tmp_path / "ack.997"
    _run("ack", str(FIXTURES / "x12_5010_envelope_errors.edi"), "--output", str(target))
    assert b"AK5*R*3~" in target.read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inspect", "missing.edi"], "cannot open missing.edi"),
        (["ack", str(FIXTURES / "iftsta_d96a.edi")], "ack works on X12 files only"),
    ],
)
def test_operator_errors(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("edi", *args, stdout=io.StringIO())


@pytest.mark.slow  # a command-line subprocess: seconds
def test_bad_file_gives_one_line_on_stderr_and_nonzero_exit(tmp_path: Path) -> None:
    bad = tmp_path / "bad.edi"
    bad.write_bytes((FIXTURES / "x12_4010_two_groups.edi").read_bytes().replace(b"*CT~", b"*XX~"))
    proc = subprocess.run(
        [sys.executable, "manage.py", "edi", "inspect", str(bad)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip() == "CommandError: bad.edi: segment 19 (AT7) element 7: unknown time code 'XX'"
    assert "Traceback" not in proc.stderr
