"""GET /api/dashboard/sidebar and GET /api/workspaces/{slug}/tasks/notifications-count."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tasks.models import Task, WorkflowStatus
from tests.factories import TaskFactory, TaskGroupFactory
from tests.personas import PERSONAS, READ, expect

W = WorkflowStatus


@pytest.mark.parametrize("persona", PERSONAS)
def test_sidebar_per_persona(api, workspace, persona):
    expect(api(persona).get("/api/dashboard/sidebar", {"workspace": "acme"}), READ[persona])


def test_sidebar_snapshot(api, people, workspace):
    for status in (W.PENDING, W.IN_PROGRESS, W.COMPLETED, W.FAILED, W.ERROR):
        for _ in range(4):
            TaskFactory(ran=True, workspace=workspace, workflow_status=status)
    TaskFactory(ran=True, workspace=people.elsewhere, workflow_status=W.PENDING)
    for _ in range(55):
        TaskGroupFactory(workspace=workspace)
    data = expect(api("viewer").get("/api/dashboard/sidebar"), 200)["data"]
    assert data["stats"]["total"] == 20 and data["stats"]["failed"] == 8
    assert set(data["tasksByStatus"]) == {"queued", "processing", "success", "failed"}
    assert all(len(rows) == 3 for rows in data["tasksByStatus"].values())
    assert {row["workflowStatus"] for row in data["tasksByStatus"]["failed"]} <= {"FAILED", "ERROR"}
    assert {row["state"] for row in data["tasksByStatus"]["success"]} == {"succeeded"}
    assert len(data["taskGroups"]) == 50


def test_sidebar_failed_rows_are_the_newest_of_failed_and_error_together(api, workspace):
    now = timezone.now()
    made = {}
    for minutes, status in enumerate((W.FAILED, W.ERROR, W.ERROR, W.FAILED, W.ERROR, W.FAILED)):
        task = TaskFactory(ran=True, workspace=workspace, workflow_status=status)
        Task.objects.filter(pk=task.pk).update(updated_at=now - timedelta(minutes=minutes))
        made[minutes] = str(task.pk)
    rows = expect(api("viewer").get("/api/dashboard/sidebar"), 200)["data"]["tasksByStatus"]
    assert [row["id"] for row in rows["failed"]] == [made[0], made[1], made[2]]


def test_sidebar_runs_a_fixed_number_of_queries(api, workspace, django_assert_num_queries):
    client = api("viewer")
    client.get("/api/auth/me")
    for status in W.values:
        for _ in range(5):
            TaskFactory(
                ran=True,
                workspace=workspace,
                workflow_status=status,
                group=TaskGroupFactory(workspace=workspace),
            )
    # token, roles, stats, 5 x newest ids (one per workflow status: failed is FAILED
    # and ERROR), their rows, groups, their latest tasks.
    with django_assert_num_queries(11):
        client.get("/api/dashboard/sidebar")


@pytest.mark.parametrize("persona", PERSONAS)
def test_notifications_count_per_persona(api, workspace, persona):
    expect(api(persona).get("/api/workspaces/acme/tasks/notifications-count"), READ[persona])


def test_notifications_count_replays_the_mobile_seed(api, people, workspace):
    for status in (W.PENDING, W.IN_PROGRESS, W.IN_PROGRESS):
        TaskFactory(ran=True, workspace=workspace, workflow_status=status, awaiting_input=True)
    TaskFactory(ran=True, workspace=workspace, workflow_status=W.COMPLETED, awaiting_input=True)
    TaskFactory(ran=True, workspace=workspace, workflow_status=W.IN_PROGRESS)
    TaskFactory(
        ran=True, workspace=workspace, workflow_status=W.PENDING, awaiting_input=True, deleted=True
    )
    TaskFactory(
        ran=True, workspace=people.elsewhere, workflow_status=W.PENDING, awaiting_input=True
    )
    body = expect(api("viewer").get("/api/workspaces/acme/tasks/notifications-count"), 200)
    assert body == {"success": True, "data": {"waitingForInputCount": 3}}
    stats = api("viewer").get("/api/tasks/stats", {"workspace": "acme"}).json()["data"]
    assert stats["waitingForInput"] == 3
    waiting = api("viewer").get("/api/tasks", {"status": "waiting_approval", "limit": 50}).json()
    assert len(waiting["data"]) == 3


@pytest.mark.postgres_only
def test_each_sidebar_state_reads_the_head_of_an_index_range(api, workspace):
    """Each newest-of-state query can be read in order from an index, without sorting
    the tasks of its statuses: a workspace's failed tasks only grow."""
    for status in W.values:
        TaskFactory(ran=True, workspace=workspace, workflow_status=status)
    client = api("viewer")
    with CaptureQueriesContext(connection) as queries:
        expect(client.get("/api/dashboard/sidebar", {"workspace": "acme"}), 200)
    heads = [q["sql"] for q in queries.captured_queries if q["sql"].rstrip().endswith("LIMIT 3")]
    assert len(heads) == 5  # PENDING, IN_PROGRESS, COMPLETED, FAILED, ERROR
    for sql in heads:
        with transaction.atomic(), connection.cursor() as cursor:
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                cursor.execute(f"SET LOCAL {setting} = off")
            cursor.execute("EXPLAIN " + sql)
            shown = "\n".join(row[0] for row in cursor.fetchall())
        assert "task_ws_workflow_recent_idx" in shown and "Sort" not in shown, shown
