"""Retry lineage: every run records why it was queued (`trigger`), who asked
(`requestedBy`) and the run it retries (`retryOf`); the task detail lists the runs
newest first."""

from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import RunTrigger, TaskRun, W
from runs.reaper import reap_stale_runs
from tests.factories import TaskFactory, TaskRunFactory
from tests.personas import expect

pytestmark = pytest.mark.django_db(transaction=True)


def runs_of(client, task):
    return expect(client.get(f"/api/tasks/{task.pk}"), 200)["data"]["runs"]


def test_a_task_created_with_run_records_its_creator(api, people, workspace):
    client = api("developer")
    body = expect(
        client.post("/api/tasks", {"workspaceId": str(workspace.pk), "title": "Go", "run": True}),
        201,
    )["data"]
    assert [run["trigger"] for run in body["runs"]] == ["create"]
    (run,) = runs_of(client, TaskFactory._meta.model.objects.get(pk=body["id"]))
    assert run["trigger"] == "create" and run["retryOf"] is None
    assert run["requestedBy"]["id"] == str(people["developer"].pk)
    assert run["status"] == "COMPLETED" and run["worker"] and run["exitCode"] is None
    assert {"createdAt", "startedAt", "finishedAt", "number", "error"} <= set(run)


def test_a_user_message_records_its_author(api, people, workspace):
    task = TaskFactory(workspace=workspace)
    client = api("developer")
    sent = client.post("/api/chat/message", {"taskId": str(task.pk), "message": "hi"})
    assert sent.status_code in (200, 201), sent.content
    (run,) = runs_of(client, task)
    assert run["trigger"] == "message"
    assert run["requestedBy"]["id"] == str(people["developer"].pk)


def test_retries_point_at_the_run_they_retry_newest_first(api, people, workspace):
    task = TaskFactory(workspace=workspace)
    client = api("developer")
    expect(client.post(f"/api/tasks/{task.pk}/retry"), 202)
    body = expect(api("admin").post(f"/api/tasks/{task.pk}/retry"), 202)["data"]
    second, first = body["runs"]
    assert (second["number"], first["number"]) == (2, 1)
    assert first["trigger"] == "retry" and first["retryOf"] is None  # nothing before it
    assert second["trigger"] == "retry" and second["retryOf"] == first["id"]
    assert second["requestedBy"]["id"] == str(people["admin"].pk)
    assert first["requestedBy"]["id"] == str(people["developer"].pk)


def test_a_forced_retry_points_at_the_stale_run_it_supersedes(api, workspace, settings):
    settings.STALE_RUN_SECONDS = 60
    task = TaskFactory(workspace=workspace, workflow_status=W.IN_PROGRESS)
    long_ago = timezone.now() - timedelta(minutes=10)
    stale = TaskRunFactory(
        task=task, number=1, status=W.IN_PROGRESS, started_at=long_ago, heartbeat_at=long_ago
    )
    body = expect(api("developer").post(f"/api/tasks/{task.pk}/retry?force=true"), 202)["data"]
    newest, superseded = body["runs"]
    assert newest["trigger"] == "force" and newest["retryOf"] == str(stale.pk)
    assert superseded["status"] == "ERROR"


def test_a_requeued_run_points_at_the_run_its_worker_left(workspace, settings):
    settings.STALE_RUN_SECONDS = 60
    settings.RETRY_STALE_RUNS = True
    task = TaskFactory(workspace=workspace, workflow_status=W.IN_PROGRESS)
    long_ago = timezone.now() - timedelta(minutes=10)
    left = TaskRunFactory(
        task=task, number=1, status=W.IN_PROGRESS, started_at=long_ago, heartbeat_at=long_ago
    )
    reap_stale_runs()
    requeued = TaskRun.objects.get(task=task, number=2)
    assert requeued.trigger == RunTrigger.REQUEUE and requeued.retry_of_id == left.pk
    assert requeued.requested_by is None


def test_the_runs_of_the_detail_take_the_same_queries_for_one_or_many(
    api, people, workspace, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api("viewer")
    client.get("/api/auth/me")
    task = TaskFactory(workspace=workspace, ran=True)
    TaskRunFactory(task=task, number=1, status=W.COMPLETED, requested_by=people["owner"])
    with CaptureQueriesContext(connection) as one:
        assert len(runs_of(client, task)) == 1
    for number in range(2, 51):
        TaskRunFactory(
            task=task, number=number, status=W.COMPLETED, requested_by=people["developer"]
        )
    with django_assert_num_queries(len(one)):
        runs = runs_of(client, task)
    assert [run["number"] for run in runs] == list(range(50, 0, -1))
