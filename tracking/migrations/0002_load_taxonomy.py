"""Load the harmonised vocabulary from tracking/taxonomy.csv (copied into the project)."""

import csv
from pathlib import Path

from django.db import migrations

TAXONOMY = Path(__file__).resolve().parent.parent / "taxonomy.csv"


def load(apps, schema_editor):
    StatusCode = apps.get_model("tracking", "StatusCode")
    with TAXONOMY.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    existing = set(StatusCode.objects.values_list("milestone", "code", "sub_code"))
    StatusCode.objects.bulk_create(
        [
            StatusCode(milestone=r["milestone"], code=r["code"], sub_code=r["sub_code"], description=r["description"])
            for r in rows
            if (r["milestone"], r["code"], r["sub_code"]) not in existing
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("tracking", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
