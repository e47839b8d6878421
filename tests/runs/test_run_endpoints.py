"""POST /api/tasks/{id}/retry and /halt, GET/DELETE /api/tasks/{id}/logs: every persona,
the 409 codes, the feature gate."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from runs.logs import append_lines
from runs.models import TaskLog, TaskRun
from runs.worker import execute_run
from tasks.models import Task
from tests.factories import RepositoryFactory, RobotFactory, TaskFactory, TaskGroupFactory
from tests.personas import MANAGE, PERSONAS, READ, WRITE, assert_error, expect

pytestmark = pytest.mark.django_db(transaction=True)


def in_progress(task, *, heartbeat_age=0):
    Task.objects.filter(pk=task.pk).update(workflow_status="IN_PROGRESS")
    beat = timezone.now() - timedelta(seconds=heartbeat_age)
    return TaskRun.objects.create(
        task=task,
        number=task.runs.count() + 1,
        status="IN_PROGRESS",
        started_at=beat,
        heartbeat_at=beat,
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_retry_by_persona(api, workspace, persona):
    task = TaskFactory(workspace=workspace)
    response = api(persona).post(f"/api/tasks/{task.pk}/retry")
    expected = {200: 202}.get(WRITE[persona], WRITE[persona])
    body = expect(response, expected)
    assert TaskRun.objects.filter(task=task).exists() == (expected == 202)
    if expected == 202:
        assert body["data"]["workflowStatus"] == "COMPLETED"
        assert body["data"]["runs"][0]["status"] == "COMPLETED"


def test_retry_keeps_earlier_runs_and_continues_log_numbering(api, workspace):
    task = TaskFactory(workspace=workspace)
    client = api("developer")
    assert client.post(f"/api/tasks/{task.pk}/retry").status_code == 202
    first_lines = TaskLog.objects.filter(task=task).count()
    body = client.post(f"/api/tasks/{task.pk}/retry").json()["data"]
    assert body["retries"] == 1 and [r["number"] for r in body["runs"]] == [2, 1]  # newest first
    seqs = list(TaskLog.objects.filter(task=task).values_list("seq", flat=True))
    assert seqs == list(range(1, 2 * first_lines + 1))
    assert set(
        TaskLog.objects.filter(seq__gt=first_lines).values_list("run__number", flat=True)
    ) == {2}


def test_retry_of_an_archived_task_is_a_conflict(api, workspace):
    task = TaskFactory(workspace=workspace, archived=True)
    assert_error(api("developer").post(f"/api/tasks/{task.pk}/retry"), 409, "TASK_ARCHIVED")
    repo = RepositoryFactory(workspace=workspace, archived=True)
    other = TaskFactory(workspace=workspace, repository=repo)
    assert_error(api("developer").post(f"/api/tasks/{other.pk}/retry"), 409, "TASK_ARCHIVED")
    assert not TaskRun.objects.exists()


def test_retry_while_running_is_a_conflict_even_with_force(api, workspace):
    task = TaskFactory(workspace=workspace)
    in_progress(task)
    client = api("developer")
    assert_error(client.post(f"/api/tasks/{task.pk}/retry"), 409, "TASK_RUNNING")
    assert_error(client.post(f"/api/tasks/{task.pk}/retry?force=true"), 409, "TASK_RUNNING")
    Task.objects.filter(pk=task.pk).update(workflow_status="PENDING")
    assert_error(client.post(f"/api/tasks/{task.pk}/retry"), 409, "TASK_RUNNING")


def test_force_retry_of_a_stale_run_supersedes_it(api, workspace, settings):
    settings.STALE_RUN_SECONDS = 60
    task = TaskFactory(workspace=workspace)
    stale = in_progress(task, heartbeat_age=61)
    response = api("developer").post(f"/api/tasks/{task.pk}/retry?force=true")
    assert response.status_code == 202, response.content
    stale.refresh_from_db()
    assert stale.status == "ERROR" and "forced retry" in stale.error
    assert response.json()["data"]["workflowStatus"] == "COMPLETED"
    assert task.runs.count() == 2


def test_retry_while_another_task_of_the_group_runs_is_group_busy(api, workspace):
    group = TaskGroupFactory(workspace=workspace)
    in_progress(TaskFactory(workspace=workspace, group=group))
    task = TaskFactory(workspace=workspace, group=group)
    assert_error(api("developer").post(f"/api/tasks/{task.pk}/retry"), 409, "GROUP_BUSY")


def test_retry_of_an_unknown_or_malformed_or_deleted_task_is_404(api, workspace):
    client = api("developer")
    deleted = TaskFactory(workspace=workspace, deleted=True)
    for path in (
        f"/api/tasks/{deleted.pk}/retry",
        "/api/tasks/nope/retry",
        "/api/tasks/00000000-0000-0000-0000-000000000000/retry",
    ):
        assert_error(client.post(path), 404, "NOT_FOUND")


@pytest.mark.parametrize("persona", PERSONAS)
def test_halt_by_persona(api, workspace, persona):
    task = TaskFactory(workspace=workspace, workflow_status="PENDING")
    TaskRun.objects.create(task=task, number=1)
    response = api(persona).post(f"/api/tasks/{task.pk}/halt")
    expected = {200: 202}.get(WRITE[persona], WRITE[persona])
    expect(response, expected)
    task.refresh_from_db()
    assert (task.workflow_status == "HALTED") == (expected == 202)


def test_halt_of_a_task_that_is_not_running_is_a_conflict(api, workspace):
    task = TaskFactory(workspace=workspace, workflow_status="COMPLETED")
    assert_error(api("developer").post(f"/api/tasks/{task.pk}/halt"), 409, "NOT_RUNNING")


def test_halt_of_a_queued_run_ends_it_and_starts_the_next_of_the_group(
    api, workspace, recorded_events
):
    group = TaskGroupFactory(workspace=workspace)
    first = TaskFactory(workspace=workspace, group=group, workflow_status="PENDING")
    queued = TaskRun.objects.create(task=first, number=1)
    second = TaskFactory(workspace=workspace, group=group, workflow_status="PENDING")
    waiting = TaskRun.objects.create(task=second, number=1)
    body = api("developer").post(f"/api/tasks/{first.pk}/halt").json()["data"]
    assert body["workflowStatus"] == "HALTED"
    queued.refresh_from_db()
    waiting.refresh_from_db()
    assert queued.status == "HALTED" and waiting.status == "COMPLETED"
    assert {"taskId": str(first.pk), "workflowStatus": "HALTED"}.items() <= next(
        e["data"] for e in recorded_events if e["event"] == "workflow-status-update"
    ).items()


def run_in_thread(run):
    def work():
        try:
            execute_run(str(run.pk))
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 10
    while TaskRun.objects.get(pk=run.pk).status != "IN_PROGRESS":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return thread


@pytest.mark.parametrize(
    "argv",
    [
        ["sleep", "600"],
        # Ignores SIGTERM: SIGKILL after the grace period ends it.
        [
            "python3",
            "-c",
            "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(600)",
        ],
    ],
    ids=["sleep", "ignores-sigterm"],
)
def test_halt_stops_a_command_run_within_the_grace_period(api, workspace, settings, argv):
    settings.RUN_HALT_GRACE_SECONDS = 2
    robot = RobotFactory(workspace=workspace, runner="command", config={"argv": argv})
    task = TaskFactory(workspace=workspace, robot=robot, workflow_status="PENDING")
    run = TaskRun.objects.create(task=task, number=1)
    thread = run_in_thread(run)
    time.sleep(0.3)
    started = time.monotonic()
    response = api("developer").post(f"/api/tasks/{task.pk}/halt")
    assert response.status_code == 202, response.content
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1 + 2 + 3  # halt poll + grace + slack
    run.refresh_from_db()
    task.refresh_from_db()
    assert run.status == "HALTED" and task.workflow_status == "HALTED"
    assert run.exit_code in (-15, -9)


@pytest.mark.parametrize("persona", PERSONAS)
def test_logs_get_by_persona(api, workspace, persona):
    task = TaskFactory(workspace=workspace)
    run = TaskRun.objects.create(task=task, number=1)
    append_lines(run, [("stdout", "hello"), ("stderr", "oops")])
    body = expect(api(persona).get(f"/api/tasks/{task.pk}/logs"), READ[persona])
    if READ[persona] == 200:
        assert body["data"]["nextBefore"] is None
        line = body["data"]["logs"][1]
        assert set(line) == {"seq", "runNumber", "stream", "line", "createdAt"}
        assert (line["seq"], line["runNumber"], line["stream"], line["line"]) == (
            2,
            1,
            "stderr",
            "oops",
        )
        assert line["createdAt"].endswith("Z")


@pytest.mark.parametrize("persona", PERSONAS)
def test_logs_clear_by_persona(api, workspace, persona):
    task = TaskFactory(workspace=workspace)
    append_lines(TaskRun.objects.create(task=task, number=1), [("stdout", "x")])
    expected = {200: 204}.get(MANAGE[persona], MANAGE[persona])
    expect(api(persona).delete(f"/api/tasks/{task.pk}/logs"), expected)
    assert TaskLog.objects.filter(task=task).exists() == (expected != 204)


def test_logs_pages_with_limit_before_and_after(api, workspace, django_assert_max_num_queries):
    task = TaskFactory(workspace=workspace)
    run = TaskRun.objects.create(task=task, number=1)
    append_lines(run, [("stdout", f"l{i}") for i in range(1, 26)])
    client = api("viewer")
    page = client.get(f"/api/tasks/{task.pk}/logs?limit=10").json()["data"]
    assert [line["seq"] for line in page["logs"]] == list(range(16, 26))
    assert page["nextBefore"] == 16
    older = client.get(f"/api/tasks/{task.pk}/logs?limit=10&before=16").json()["data"]
    assert [line["seq"] for line in older["logs"]] == list(range(6, 16))
    last = client.get(f"/api/tasks/{task.pk}/logs?limit=10&before=6").json()["data"]
    assert [line["seq"] for line in last["logs"]] == list(range(1, 6)) and last[
        "nextBefore"
    ] is None
    # A page that ends on the first line: nothing older, though the page is full.
    full = client.get(f"/api/tasks/{task.pk}/logs?limit=5&before=6").json()["data"]
    assert [line["seq"] for line in full["logs"]] == list(range(1, 6))
    assert full["nextBefore"] is None
    one_more = client.get(f"/api/tasks/{task.pk}/logs?limit=5&before=7").json()["data"]
    assert [line["seq"] for line in one_more["logs"]] == list(range(2, 7))
    assert one_more["nextBefore"] == 2
    newer = client.get(f"/api/tasks/{task.pk}/logs?after=20").json()["data"]
    assert [line["seq"] for line in newer["logs"]] == list(range(21, 26))
    with django_assert_max_num_queries(8):
        client.get(f"/api/tasks/{task.pk}/logs?limit=1000")


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=abc", "before=-1", "after=x"])
def test_logs_bad_paging_is_400(api, workspace, query):
    task = TaskFactory(workspace=workspace)
    assert_error(api("viewer").get(f"/api/tasks/{task.pk}/logs?{query}"), 400, "VALIDATION_ERROR")


def test_logs_clear_keeps_the_numbering(api, workspace):
    task = TaskFactory(workspace=workspace)
    run = TaskRun.objects.create(task=task, number=1)
    append_lines(run, [("stdout", "a"), ("stdout", "b")])
    api("admin").delete(f"/api/tasks/{task.pk}/logs")
    append_lines(run, [("stdout", "c")])
    assert list(TaskLog.objects.filter(task=task).values_list("seq", flat=True)) == [3]


@pytest.mark.parametrize("how", ["deployment", "workspace"])
def test_logs_disabled_is_404_on_both_endpoints(api, workspace, settings, how):
    if how == "deployment":
        settings.TASK_LOGS_ENABLED = False
    else:
        workspace.features = {"taskLogsEnabled": False}
        workspace.save()
    task = TaskFactory(workspace=workspace)
    assert_error(api("viewer").get(f"/api/tasks/{task.pk}/logs"), 404, "TASK_LOGS_DISABLED")
    assert_error(api("admin").delete(f"/api/tasks/{task.pk}/logs"), 404, "TASK_LOGS_DISABLED")
    assert_error(api("outsider").get(f"/api/tasks/{task.pk}/logs"), 404, "NOT_FOUND")


def test_logs_take_the_same_four_queries_for_one_line_or_a_thousand(
    api, workspace, django_assert_num_queries
):
    task = TaskFactory(workspace=workspace)
    run = TaskRun.objects.create(task=task, number=1)
    append_lines(run, [("stdout", f"l{i}") for i in range(1, 1201)])
    client = api("viewer")
    client.get(f"/api/tasks/{task.pk}/logs?limit=1")  # the token's last-used stamp
    # token with its user, task with its workspace, roles, the lines (and one more: is
    # anything older?)
    for limit in (1, 1000):
        with django_assert_num_queries(4):
            page = expect(client.get(f"/api/tasks/{task.pk}/logs?limit={limit}"), 200)["data"]
        assert len(page["logs"]) == limit
