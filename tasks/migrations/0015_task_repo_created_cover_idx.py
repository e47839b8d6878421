"""A repository's counts read one index on PostgreSQL, which is also its foreign key's.

With task_repo_created_idx (repository, created_at) the list's `totalCount` of one
repository (33,265 live tasks of the 1M-task bench's big workspace) ANDed two bitmaps
and rechecked 5,647 heap pages for the workspace, archived and status conditions: 30 ms
warm; its stats (35 ms) and 1-year volume (32 ms) read the same pages. With those
columns included the index answers all three alone (index-only, 384 pages): 6, 11 and
10 ms. It holds every row (deleted is one of its columns), so it also takes the place
of the foreign key's own index (ON DELETE SET NULL finds its rows): a task write
maintains one index fewer. SQLite builds the key columns alone.

Built CONCURRENTLY before the old ones are dropped (config.indexes.swap_indexes).
"""

import django.db.models.deletion
from django.db import migrations, models

from config.indexes import swap_indexes

OLD = [
    models.Index(
        fields=["repository", "created_at"],
        condition=models.Q(deleted=False),
        name="task_repo_created_idx",
    ),
    # The foreign key's index as 0001 built it (Django's name for it, on both databases).
    models.Index(fields=["repository"], name="tasks_task_repository_id_ca81654e"),
]
NEW = models.Index(
    fields=["repository", "created_at"],
    include=["workspace", "deleted", "archived", "status", "workflow_status", "awaiting_input"],
    name="task_repo_created_cover_idx",
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("tasks", "0014_task_pages_keep_room")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[swap_indexes("tasks", "task", OLD, [NEW])],
            state_operations=[
                migrations.AlterField(
                    model_name="task",
                    name="repository",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="tasks",
                        to="tasks.repository",
                    ),
                ),
                migrations.RemoveIndex("task", "task_repo_created_idx"),
                migrations.AddIndex("task", NEW),
            ],
        )
    ]
