"""The housekeeping job's reads served by indexes, each minute, whatever the size of the
tables (ops.housekeeping): retention's old log lines (`created_at < cutoff`, oldest
first: 242 ms at 4.6M lines without it, a scan of every line and a look-up of its run)
and the failure-spike alert's runs ended in its window (`finished_at >= since`: 116-173
ms at 1M runs, a scan of every run). Both indexes take their rows in time order (at the
right edge of the tree): a log line's INSERT and a run's end add one entry each.
PostgreSQL only, built CONCURRENTLY."""

from django.db import migrations

from config.indexes import concurrent_indexes

INDEXES = {
    "tasklog_created_idx": "ON tasks_tasklog (created_at)",
    "taskrun_finished_idx": "ON tasks_taskrun (finished_at) WHERE finished_at IS NOT NULL",
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("runs", "0005_run_created_index")]

    operations = [concurrent_indexes(INDEXES)]
