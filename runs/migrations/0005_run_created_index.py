"""The staff admin's run changelist, newest first (`created_at DESC, id DESC`), read from
an index instead of sorting every run. PostgreSQL only, built CONCURRENTLY."""

from django.db import migrations

INDEXES = {"taskrun_created_idx": "ON tasks_taskrun (created_at, id)"}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("runs", "0004_run_lineage_and_worker_presence")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
