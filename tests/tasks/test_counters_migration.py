"""The migrations of the counters fill them from the tasks already there (0008; 0011
counts again with priority in the key), and go back without a trace."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Q

from tasks import counters

BEFORE = [("tasks", "0007_search_and_order_indexes")]
WITHOUT_PRIORITY = [("tasks", "0010_priority_and_workflow_order_indexes")]


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
        for n, (status, deleted, priority) in enumerate(
            [
                ("COMPLETED", False, "HIGH"),
                ("COMPLETED", False, "LOW"),
                ("FAILED", False, "HIGH"),
                (None, True, "MEDIUM"),
            ]
        ):
            task = Task.objects.create(
                workspace=workspace,
                title=f"old {n}",
                workflow_status=status,
                deleted=deleted,
                priority=priority,
            )
            Task.objects.filter(pk=task.pk).update(created_at=datetime(2026, 1, 1 + n, tzinfo=UTC))

        migrate(leaves)
        assert counters.drift() == 0
        cells, days = counters.stored()
        assert sum(cells.values()) == 4 and sum(days.values()) == 3
        completed = Q(workflow_status="COMPLETED")
        assert counters.live_total([workspace.pk], completed) == 2
        assert counters.live_total([workspace.pk], completed & Q(priority="HIGH")) == 1

        apps = migrate(WITHOUT_PRIORITY)  # 0011 back: the keys without priority
        old = apps.get_model("tasks", "TaskCount").objects.filter(workflow_status="COMPLETED")
        assert [(row.key, row.n) for row in old] == [("000|TODO|COMPLETED", 2)]

        migrate(BEFORE)
        assert "tasks_taskcount" not in connection.introspection.table_names()
    finally:
        migrate(leaves)
    assert counters.drift() == 0
