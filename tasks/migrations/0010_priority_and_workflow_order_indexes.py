"""The two task-list orders no index served (EXPLAIN in bench/results/issue-16d-output.md):

- workflowStatus ascending (`workflow_status ASC NULLS LAST, id ASC`) read the whole first
  status of the workspace from `task_ws_workflow_idx` (workspace, workflow_status) and
  sorted it by id (an incremental sort over ~70% of a workspace's tasks): now
  `task_ws_workflow_asc_idx` (workspace, workflow_status, id) in that order.
- priority sorts by its rank (`tasks.filters.with_priority_rank`, a CASE over the four
  values): `task_ws_priority_idx` indexes the same expression, ascending; descending is
  a backward scan (the rank is never NULL, so config.pagination orders it plainly).
  The expression must stay the one the list compiles (tests/tasks/test_list_scaling.py
  checks that the plan reads this index).

PostgreSQL only (SQLite keeps its plain scans), built CONCURRENTLY, like 0007.
"""

from django.db import migrations

from config.indexes import concurrent_indexes

PRIORITY_RANK = (
    "CASE WHEN priority = 'LOW' THEN 0 WHEN priority = 'MEDIUM' THEN 1 "
    "WHEN priority = 'HIGH' THEN 2 WHEN priority = 'CRITICAL' THEN 3 ELSE 0 END"
)
INDEXES = {
    "task_ws_workflow_asc_idx": (
        "ON tasks_task (workspace_id, workflow_status, id) WHERE NOT deleted"
    ),
    "task_ws_priority_idx": (
        f"ON tasks_task (workspace_id, ({PRIORITY_RANK}), id) WHERE NOT deleted"
    ),
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("tasks", "0009_task_count_slots")]

    operations = [concurrent_indexes(INDEXES)]
