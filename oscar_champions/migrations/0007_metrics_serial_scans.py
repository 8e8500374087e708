"""Scan the customer metrics without parallel workers on PostgreSQL.

The metrics table is small enough (one row per customer) that a parallel scan of it saves little, and
it costs much when a segment has a purchase-window condition: the planner then builds the hash of the
condition's buyers (an aggregate over the recent orders) once in every worker, tripling the work. With
the table scanned serially, that aggregate runs once (and may itself use parallel workers over the
orders). A storage parameter of this app's own table; other databases have nothing to change.
"""

from django.db import migrations



def _alter_metrics_table(apps, schema_editor, change):
    if schema_editor.connection.vendor == "postgresql":
        table = apps.get_model("oscar_champions", "CustomerMetrics")._meta.db_table
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} {change}")


def serial_scans(apps, schema_editor):
    _alter_metrics_table(apps, schema_editor, "SET (parallel_workers = 0)")


def default_scans(apps, schema_editor):
    _alter_metrics_table(apps, schema_editor, "RESET (parallel_workers)")


class Migration(migrations.Migration):
    dependencies = [("oscar_champions", "0006_user_email_index")]

    operations = [migrations.RunPython(serial_scans, default_scans, elidable=False)]
