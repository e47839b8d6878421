"""Two indexes PostgreSQL kept twice: each was a narrower copy of a covering index.

`task_ws_recent_idx` (workspace, -updated_at, -id) and `task_ws_workflow_idx`
(workspace, workflow_status), both of live rows, are Meta indexes from 0001 that
SQLite's plans use. On PostgreSQL the raw SQL of 0007 and 0002 built the same keys with
included columns (`task_ws_recent_cover_idx`, `task_ws_state_idx`), and the planner
reads those; the narrow copies only cost every task write two more index entries (72 MB
and 9 MB at 1M tasks). On the 1M-task bench database, with both dropped, no plan of the
list, stats, sidebar or queue-reason filter got slower, and a `status=waiting_approval`
page's ids went from 24 to 8 ms (task_ws_state_idx includes awaiting_input).

The covering indexes become the Meta indexes (SQLite builds their key columns alone,
the same as the copies it had); on PostgreSQL the copies are dropped CONCURRENTLY and
the covering indexes stay as 0002 and 0007 built them.
"""

from django.db import migrations, models

from config.indexes import swap_indexes

OLD = [
    models.Index(
        fields=["workspace", "-updated_at", "-id"],
        condition=models.Q(deleted=False),
        name="task_ws_recent_idx",
    ),
    models.Index(
        fields=["workspace", "workflow_status"],
        condition=models.Q(deleted=False),
        name="task_ws_workflow_idx",
    ),
]
NEW = [
    models.Index(
        fields=["workspace", "-updated_at", "-id"],
        include=["archived", "status", "workflow_status"],
        condition=models.Q(deleted=False),
        name="task_ws_recent_cover_idx",
    ),
    models.Index(
        fields=["workspace", "workflow_status"],
        include=["archived", "status", "awaiting_input"],
        condition=models.Q(deleted=False),
        name="task_ws_state_idx",
    ),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("tasks", "0017_task_ws_source_event_idx")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[swap_indexes("tasks", "task", OLD, NEW, built_on_postgresql=True)],
            state_operations=[
                *(migrations.RemoveIndex("task", index.name) for index in OLD),
                *(migrations.AddIndex("task", index) for index in NEW),
            ],
        )
    ]
