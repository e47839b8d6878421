"""A robot's counts read one index on PostgreSQL, which is also its foreign key's.

The list's `totalCount` of the 1M-task bench's busiest robot in the big workspace
(55,353 live tasks) ANDed the foreign key's index with a workspace bitmap and rechecked
9,090 heap pages for the other conditions: 63 ms. The robot's index now includes the
columns those conditions read, so the count is an index-only scan: 11 ms. It replaces the
foreign key's own index (the same key; deleted rows kept, for ON DELETE SET NULL), so a
task write maintains no more indexes than before. SQLite builds the key column alone, as
before.
"""

import django.db.models.deletion
from django.db import migrations, models

from config.indexes import swap_indexes

# The foreign key's index as 0001 built it (Django's name for it, on both databases).
OLD = models.Index(fields=["robot"], name="tasks_task_robot_id_e60847ed")
NEW = models.Index(
    fields=["robot"],
    include=["workspace", "deleted", "archived", "status", "workflow_status", "awaiting_input"],
    name="task_robot_cover_idx",
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("tasks", "0015_task_repo_created_cover_idx")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[swap_indexes("tasks", "task", [OLD], [NEW])],
            state_operations=[
                migrations.AlterField(
                    model_name="task",
                    name="robot",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="tasks",
                        to="tasks.robot",
                    ),
                ),
                migrations.AddIndex("task", NEW),
            ],
        )
    ]
