"""The staff admin's run changelist, newest first (`created_at DESC, id DESC`), read from
an index instead of sorting every run. PostgreSQL only, built CONCURRENTLY."""

from django.db import migrations

from config.indexes import concurrent_indexes

INDEXES = {"taskrun_created_idx": "ON tasks_taskrun (created_at, id)"}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("runs", "0004_run_lineage_and_worker_presence")]

    operations = [concurrent_indexes(INDEXES)]
