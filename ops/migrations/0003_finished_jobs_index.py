"""Retention's scan of finished queue jobs (`finished_at < cutoff`, oldest first) read from
an index on django-tasks-db's table: without one, each housekeeping pass went through
every job of the last RETENTION_JOBS_DAYS (a job per run: millions in a busy week).
Only finished jobs are in it. PostgreSQL only, built CONCURRENTLY."""

from django.db import migrations

from config.indexes import concurrent_indexes

INDEXES = {
    "dbtaskresult_finished_idx": (
        "ON django_tasks_database_dbtaskresult (finished_at) WHERE finished_at IS NOT NULL"
    ),
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ops", "0002_worker_presence_moves_to_runs"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [concurrent_indexes(INDEXES)]
