"""Create the database cache table (API throttling, carrier token buckets) on migrate.

A deploy that only runs `migrate` would otherwise run with the throttle's
cache missing; createcachetable is idempotent and skips non-database caches.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("tracking", "0004_lean_event_indexes")]
    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
