"""The code-map CSV's one home (tracking.services.mappings): parse, validate, export, import."""

from __future__ import annotations

import pytest

from tracking.models import CodeMapping
from tracking.services import (
    MappingError,
    MappingRow,
    code_mappings_csv,
    code_mappings_import,
    mapping_rows_from_csv,
    mapping_rows_from_file,
    mapping_rows_validate,
)

HEADER = "carrier_code,carrier_sub_code,milestone,code,sub_code,note\n"


@pytest.mark.django_db
def test_export_reads_back_as_the_rows_imported(carrier):
    rows = [
        MappingRow("ZZ1", "", "exception", "damage_loss", "parcel_damaged", "crushed, per the depot"),
        MappingRow("ZZ1", "B", "delivery", "delivered", "other", ""),
    ]
    code_mappings_import(carrier_id=carrier.pk, rows=rows, reharmonise=False)
    exported = mapping_rows_from_csv(code_mappings_csv(carrier_id=carrier.pk))
    assert [r for r in exported if r.carrier_code == "ZZ1"] == rows
    assert len(exported) == CodeMapping.objects.filter(carrier=carrier).count()


def test_parse_strips_cells_and_note_is_optional():
    text = "carrier_code, carrier_sub_code ,milestone,code,sub_code\n OK ,,delivery,delivered,other\n"
    assert mapping_rows_from_csv(text) == [MappingRow("OK", "", "delivery", "delivered", "other", "")]


def test_parse_names_missing_columns():
    with pytest.raises(MappingError, match="missing column\\(s\\): milestone, sub_code"):
        mapping_rows_from_csv("carrier_code,carrier_sub_code,code\nA,,x\n")


def test_unreadable_csv_is_a_mapping_error():
    with pytest.raises(MappingError, match="unreadable CSV"):
        mapping_rows_from_csv(HEADER + "A,," + "x" * 200_000 + "\n")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ([MappingRow(" ", "", "delivery", "delivered", "other")], "row 1: carrier_code is empty"),
        ([MappingRow("A", "", "delivery", "nope", "other")], "row 1: delivery/nope/other is not in the harmonised"),
        (
            [MappingRow("A", "", "delivery", "delivered", "other")] * 2,
            "row 2: carrier code A/ appears twice",
        ),
    ],
)
def test_validate_names_the_row_and_the_problem(rows, problem):
    with pytest.raises(MappingError, match=problem):
        mapping_rows_validate(rows=rows)


def test_file_allows_a_bom_and_refuses_other_encodings_oversize_and_empty():
    good = ("\ufeff" + HEADER + "OK,,delivery,delivered,other,fine\n").encode("utf-8")
    assert mapping_rows_from_file(data=good, max_bytes=1000)[0].carrier_code == "OK"
    with pytest.raises(MappingError, match="not UTF-8 text"):
        mapping_rows_from_file(data=(HEADER + "Zustellung fehlgeschlagen,,,,\n").encode("utf-16"), max_bytes=1000)
    with pytest.raises(MappingError, match=f"the file is {len(good)} bytes; the limit is 10"):
        mapping_rows_from_file(data=good, max_bytes=10)
    with pytest.raises(MappingError, match="header but no rows"):
        mapping_rows_from_file(data=HEADER.encode(), max_bytes=1000)
