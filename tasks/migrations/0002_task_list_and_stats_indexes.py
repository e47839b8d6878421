"""Indexes the task list and stats need at a million rows (EXPLAIN ANALYZE in bench/).

The list orders by `updated_at DESC NULLS LAST, id DESC NULLS LAST` (config.pagination
puts nulls last for every key). PostgreSQL cannot use the DESC (= NULLS FIRST) index
of 0001 for that order, so it sorted every task of the workspace (1.2 s at 340k rows);
with these it reads five index entries (0.2 ms); the staff admin's changelist uses
`task_recent_nl_idx` the same way. `task_ws_workflow_recent_idx` serves status-filtered
pages and the sidebar; `task_ws_state_idx` covers the page count and the stats
aggregate (index-only scans).

Plain SQL without migration state: Django's Index cannot express NULLS LAST keys plus
INCLUDE columns, and the model Meta (tasks/models.py) stays as it is. PostgreSQL only;
built CONCURRENTLY so a deployment with many tasks keeps writing while they build.
"""

from django.db import migrations

from config.indexes import concurrent_indexes

INDEXES = {
    "task_ws_recent_nl_idx": (
        "ON tasks_task (workspace_id, updated_at DESC NULLS LAST, id DESC NULLS LAST) "
        "WHERE NOT deleted"
    ),
    # Not partial: the staff admin lists deleted tasks too, in the same order.
    "task_recent_nl_idx": "ON tasks_task (updated_at DESC NULLS LAST, id DESC NULLS LAST)",
    # Status-filtered lists and the sidebar's newest rows per state, in list order.
    "task_ws_workflow_recent_idx": (
        "ON tasks_task (workspace_id, workflow_status, updated_at DESC NULLS LAST, "
        "id DESC NULLS LAST) WHERE NOT deleted"
    ),
    # Narrow and covering: the page count and the stats aggregate read it alone.
    "task_ws_state_idx": (
        "ON tasks_task (workspace_id, workflow_status) "
        "INCLUDE (archived, status, awaiting_input) WHERE NOT deleted"
    ),
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("tasks", "0001_initial")]

    operations = [concurrent_indexes(INDEXES)]
