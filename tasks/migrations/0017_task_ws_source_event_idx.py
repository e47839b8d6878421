"""A count of one source or event type reads one index on PostgreSQL, which is also the
workspace foreign key's.

The list's `totalCount` of `sourceType=WEBHOOK` in the 1M-task bench's big workspace
(34,365 live tasks of its 200,000) read the whole workspace from a bitmap and filtered
its heap: 56 ms (two parallel workers); `eventType=issue` (32,103) the same, 48 ms. An
index of (workspace, source_type, event_type) that includes the other columns the
list's conditions read makes both index-only scans: 7 ms for a source type (a range of
its keys), 13 ms for an event type alone (the workspace's entries, without their rows),
warm. It replaces the workspace foreign key's own index (same first column, every row,
for the workspace's CASCADE), so a task write maintains no more indexes than before.
SQLite builds the key columns alone.
"""

import django.db.models.deletion
from django.db import migrations, models

from config.indexes import swap_indexes

# The foreign key's index as 0001 built it (Django's name for it, on both databases).
OLD = models.Index(fields=["workspace"], name="tasks_task_workspace_id_f79e2ad7")
NEW = models.Index(
    fields=["workspace", "source_type", "event_type"],
    include=["deleted", "archived", "status", "workflow_status", "awaiting_input"],
    name="task_ws_source_event_idx",
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("accounts", "0001_initial"), ("tasks", "0016_task_robot_cover_idx")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[swap_indexes("tasks", "task", [OLD], [NEW])],
            state_operations=[
                migrations.AlterField(
                    model_name="task",
                    name="workspace",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tasks",
                        to="accounts.workspace",
                    ),
                ),
                migrations.AddIndex("task", NEW),
            ],
        )
    ]
