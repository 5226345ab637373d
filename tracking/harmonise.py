"""Carrier code → harmonised status, from the mapping table.

The lookup order is the contract: the (code, sub-code) row first, then the
code's sub-code-less fallback row. Nothing is guessed: an unknown code maps to
admin/other/other and is flagged so ops staff can see and map it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from tracking.models import UNMAPPED, CodeMapping, StatusCode

Triple = tuple[str, str, str]
MappingTable = dict[tuple[str, str], Triple]


def mapping_table(*, carrier_id: str, codes: Iterable[str] | None = None) -> MappingTable:
    """The carrier's rows (only those of ``codes`` when given): (code, sub-code) → gluey triple.

    Plain SQL: recording reads this once per call, and for a one-event webhook
    building the ORM query cost more than the rest of recording together.
    """
    mapping = connection.ops.quote_name(CodeMapping._meta.db_table)
    status = connection.ops.quote_name(StatusCode._meta.db_table)
    sql = (
        f"SELECT m.carrier_code, m.carrier_sub_code, s.milestone, s.code, s.sub_code FROM {mapping} m "
        f"JOIN {status} s ON s.id = m.status_id WHERE m.carrier_id = %s"
    )
    params: list[str] = [carrier_id]
    if codes is not None:
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        sql += f" AND m.carrier_code IN ({', '.join(['%s'] * len(wanted))})"
        params.extend(wanted)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {(code, sub): (m, c, s) for code, sub, m, c, s in cursor.fetchall()}


def harmonise(table: MappingTable, code: str, sub_code: str) -> tuple[Triple, bool]:
    """Return ((milestone, code, sub_code), unmapped)."""
    if sub_code:
        hit = table.get((code, sub_code))
        if hit is not None:
            return hit, False
    hit = table.get((code, ""))
    if hit is not None:
        return hit, False
    return UNMAPPED, True
