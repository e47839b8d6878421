"""The migration that adds the counters fills them from the tasks already there, and
goes back without a trace."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tasks import counters

BEFORE = [("tasks", "0007_search_and_order_indexes")]
COUNTERS = [("tasks", "0008_task_counters")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_existing_tasks_and_reverses():
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        apps = migrate(BEFORE)
        User = apps.get_model("accounts", "User")
        Workspace = apps.get_model("accounts", "Workspace")
        Task = apps.get_model("tasks", "Task")
        owner = User.objects.create(username="migrating")
        workspace = Workspace.objects.create(slug="old", name="Old", owner=owner)
        for n, (status, deleted) in enumerate(
            [("COMPLETED", False), ("COMPLETED", False), ("FAILED", False), (None, True)]
        ):
            task = Task.objects.create(
                workspace=workspace, title=f"old {n}", workflow_status=status, deleted=deleted
            )
            Task.objects.filter(pk=task.pk).update(created_at=datetime(2026, 1, 1 + n, tzinfo=UTC))

        migrate(COUNTERS)
        assert counters.drift() == 0
        cells, days = counters.stored()
        assert sum(cells.values()) == 4 and sum(days.values()) == 3
        assert (
            counters.total(counters.live_cells([workspace.pk]).filter(workflow_status="COMPLETED"))
            == 2
        )

        migrate(BEFORE)
        assert "tasks_taskcount" not in connection.introspection.table_names()
    finally:
        migrate(leaves)
    assert counters.drift() == 0
