"""The harmonised vocabulary: tracking/taxonomy.csv is the source, StatusCode its table.

``taxonomy_sync`` runs after every ``migrate`` (and after test flushes, which
emit post_migrate), so the table always holds every row of the CSV and their
descriptions, however the database was emptied.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

TAXONOMY_CSV = Path(__file__).resolve().parent / "taxonomy.csv"


def taxonomy_rows() -> list[dict[str, str]]:
    with TAXONOMY_CSV.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def taxonomy_sync(status_model: Any = None) -> int:
    """Create missing rows and refresh descriptions; returns rows created."""
    if status_model is None:
        from tracking.models import StatusCode as status_model
    existing = {(s.milestone, s.code, s.sub_code): s for s in status_model.objects.all()}
    created, changed = [], []
    for row in taxonomy_rows():
        key = (row["milestone"], row["code"], row["sub_code"])
        current = existing.get(key)
        if current is None:
            created.append(status_model(milestone=key[0], code=key[1], sub_code=key[2], description=row["description"]))
        elif current.description != row["description"]:
            current.description = row["description"]
            changed.append(current)
    status_model.objects.bulk_create(created)
    if changed:
        status_model.objects.bulk_update(changed, ["description"])
    return len(created)


def sync_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    from django.db import connections

    from tracking.models import StatusCode

    if StatusCode._meta.db_table in connections[using].introspection.table_names():
        taxonomy_sync()
