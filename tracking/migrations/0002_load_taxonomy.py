"""Load the harmonised vocabulary from tracking/taxonomy.csv (copied into the project).

post_migrate keeps it in step afterwards (tracking.taxonomy.taxonomy_sync).
"""

from django.db import migrations


def load(apps, schema_editor):
    from tracking.taxonomy import taxonomy_sync

    taxonomy_sync(apps.get_model("tracking", "StatusCode"))


class Migration(migrations.Migration):
    dependencies = [("tracking", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
