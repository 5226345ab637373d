"""Carrier code → harmonised status, from the mapping table.

The lookup order is the contract: the (code, sub-code) row first, then the
code's sub-code-less fallback row. Nothing is guessed: an unknown code maps to
admin/other/other and is flagged so ops staff can see and map it.
"""

from __future__ import annotations

from collections.abc import Iterable

from tracking.models import UNMAPPED, CodeMapping

Triple = tuple[str, str, str]
MappingTable = dict[tuple[str, str], Triple]


def mapping_table(*, carrier_id: str, codes: Iterable[str] | None = None) -> MappingTable:
    qs = CodeMapping.objects.filter(carrier_id=carrier_id)
    if codes is not None:
        qs = qs.filter(carrier_code__in=set(codes))
    rows = qs.values_list("carrier_code", "carrier_sub_code", "status__milestone", "status__code", "status__sub_code")
    return {(code, sub): (m, c, s) for code, sub, m, c, s in rows}


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
