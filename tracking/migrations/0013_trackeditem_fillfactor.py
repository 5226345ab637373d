"""Leave room in tracked-item pages for updates in place (PostgreSQL only).

Every recorded event moves its item's state (an UPDATE of one row). None of
the columns it changes is indexed, so with free space on the row's page
PostgreSQL updates it in place (a heap-only tuple) instead of writing a new
entry in each of the table's five indexes. A fill factor of 70 leaves that
space in pages written from now on; existing pages get it when the table is
next rewritten (VACUUM FULL or pg_repack), see docs/architecture.md.
"""

from django.db import migrations

FILLFACTOR = 70


def set_fillfactor(apps, schema_editor, value: int | None = FILLFACTOR) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("tracking", "TrackedItem")._meta.db_table)
    if value is None:
        schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    else:
        schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {int(value)})")


def reset_fillfactor(apps, schema_editor) -> None:
    set_fillfactor(apps, schema_editor, None)


class Migration(migrations.Migration):
    dependencies = [("tracking", "0012_event_relabel_idx")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
