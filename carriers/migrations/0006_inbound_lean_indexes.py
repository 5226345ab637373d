"""Two fewer index entries written for every webhook acknowledged.

The inbound message's carrier had an index of its own (and, on PostgreSQL, Django's
``varchar_pattern_ops`` twin for LIKE queries nobody makes); inbound_carrier_sha_idx and
inbound_pending_idx lead with the carrier and serve every lookup by it. The link to the
original of a duplicate is indexed only where it is set: the rest of the rows are not
duplicates. The indexes are dropped by name, leaving the foreign keys themselves alone (the
ORM's AlterField would drop and re-validate them over the whole table).
"""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "carriers_inboundmessage"
DROPPED = {
    "carriers_inboundmessage_carrier_id_99000c85": "carrier_id",
    "carriers_inboundmessage_carrier_id_99000c85_like": "carrier_id varchar_pattern_ops",
    "carriers_inboundmessage_duplicate_of_id_3f1845ec": "duplicate_of_id",
}


def drop_indexes(apps, schema_editor) -> None:
    for name in DROPPED:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def restore_indexes(apps, schema_editor) -> None:
    for name, columns in DROPPED.items():
        if "pattern_ops" in columns and schema_editor.connection.vendor != "postgresql":
            continue
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(name)} ON {schema_editor.quote_name(TABLE)} ({columns})"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("carriers", "0005_inbound_pending_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="inboundmessage",
                    name="carrier",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="inbound_messages",
                        to="carriers.carrier",
                    ),
                ),
                migrations.AlterField(
                    model_name="inboundmessage",
                    name="duplicate_of",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="carriers.inboundmessage",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_indexes, restore_indexes)],
        ),
        migrations.AddIndex(
            model_name="inboundmessage",
            index=models.Index(
                condition=models.Q(("duplicate_of__isnull", False)),
                fields=["duplicate_of"],
                name="inbound_duplicate_of_idx",
            ),
        ),
    ]
