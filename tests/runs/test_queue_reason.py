"""Why a queued task waits: `queueReason` / `queueBlockedBy` on the row and the detail,
and `GET /api/tasks?queueReason=`."""

import itertools
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from runs import presence
from runs.models import TaskRun, W, WorkerPresence
from runs.queueing import busy_tasks
from tests.factories import RobotFactory, TaskFactory, TaskGroupFactory, TaskRunFactory
from tests.personas import PERSONAS, assert_error, expect

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _presence_window(settings):
    # Wide enough that a beat stays fresh however slow a loaded machine runs the test.
    settings.WORKER_PRESENCE_SECONDS = 120


def queued(workspace, **fields):
    """A PENDING task with its PENDING run, as runs.services.queue_run leaves it."""
    task = TaskFactory(workspace=workspace, workflow_status=W.PENDING, **fields)
    TaskRunFactory(task=task, number=1, status=W.PENDING)
    return task


def running(workspace, **fields):
    task = TaskFactory(workspace=workspace, workflow_status=W.IN_PROGRESS, **fields)
    TaskRunFactory(task=task, number=1, status=W.IN_PROGRESS, started_at=timezone.now())
    return task


def worker_alive():
    presence.beat("host:1")


def row_of(client, task):
    rows = client.get("/api/tasks", {"limit": 100}).json()["data"]
    return next(row for row in rows if row["id"] == str(task.pk))


def detail_of(client, task):
    return client.get(f"/api/tasks/{task.pk}").json()["data"]


def reason_of(client, task):
    row, detail = row_of(client, task), detail_of(client, task)
    assert (row["queueReason"], row["queueBlockedBy"]) == (
        detail["queueReason"],
        detail["queueBlockedBy"],
    )
    return row["queueReason"], row["queueBlockedBy"]


def test_a_task_that_does_not_wait_has_no_reason(api, workspace):
    worker_alive()
    client = api("viewer")
    ended = TaskFactory(workspace=workspace, ran=True)
    TaskRunFactory(task=ended, number=1, status=W.COMPLETED)
    assert reason_of(client, ended) == (None, None)
    assert reason_of(client, running(workspace)) == (None, None)
    never_ran = TaskFactory(workspace=workspace)
    assert detail_of(client, never_ran)["queueReason"] is None


def test_a_queued_task_waits_for_a_slot_while_a_worker_is_alive(api, workspace):
    worker_alive()
    assert reason_of(api("viewer"), queued(workspace)) == ("queued", None)


def test_no_worker_when_no_heartbeat_is_fresh(api, workspace, settings):
    task = queued(workspace)
    client = api("viewer")
    assert reason_of(client, task) == ("no_worker", None)
    stale = timezone.now() - timedelta(seconds=121)
    WorkerPresence.objects.create(worker_id="host:2", started_at=stale, heartbeat_at=stale)
    assert reason_of(client, task) == ("no_worker", None)
    presence.beat("host:2")
    assert reason_of(client, task) == ("queued", None)
    presence.forget("host:2")
    assert reason_of(client, task) == ("no_worker", None)


def test_the_presence_window_is_read_at_each_request(api, workspace, settings):
    # The list's page query is compiled once (tasks.selectors.task_row_values): the
    # moment a heartbeat must be younger than is bound on every request, not frozen.
    worker_alive()
    task = queued(workspace)
    client = api("viewer")
    assert reason_of(client, task) == ("queued", None)
    WorkerPresence.objects.update(heartbeat_at=timezone.now() - timedelta(seconds=30))
    assert reason_of(client, task) == ("queued", None)
    settings.WORKER_PRESENCE_SECONDS = 10
    assert reason_of(client, task) == ("no_worker", None)


def test_a_disabled_robot_comes_first(api, workspace):
    robot = RobotFactory(workspace=workspace, enabled=False)
    task = queued(workspace, robot=robot)
    assert reason_of(api("viewer"), task) == ("robot_disabled", None)  # no worker either


def test_group_busy_names_the_task_whose_run_holds_the_group(api, workspace):
    worker_alive()
    group = TaskGroupFactory(workspace=workspace)
    holder = running(workspace, group=group)
    waiting = queued(workspace, group=group)
    client = api("viewer")
    assert reason_of(client, waiting) == ("group_busy", str(holder.pk))
    assert reason_of(client, holder) == (None, None)
    TaskRun.objects.filter(task=holder).transition(W.COMPLETED)
    assert reason_of(client, waiting) == ("queued", None)


def test_a_queued_next_turn_waits_for_its_own_running_turn(api, workspace):
    worker_alive()
    task = running(workspace)
    TaskRunFactory(task=task, number=2, status=W.PENDING)
    assert reason_of(api("viewer"), task) == ("task_busy", None)


def test_the_list_filters_by_reason(api, workspace):
    worker_alive()
    group = TaskGroupFactory(workspace=workspace)
    holder = running(workspace, group=group)
    blocked = queued(workspace, group=group)
    plain = queued(workspace)
    disabled = queued(workspace, robot=RobotFactory(workspace=workspace, enabled=False))
    next_turn = running(workspace)  # its next turn queued behind its running one
    TaskRunFactory(task=next_turn, number=2, status=W.PENDING)
    # In a group: its own running turn comes first, and it holds the group.
    other_group = TaskGroupFactory(workspace=workspace)
    grouped_next_turn = running(workspace, group=other_group)
    TaskRunFactory(task=grouped_next_turn, number=2, status=W.PENDING)
    blocked_by_it = queued(workspace, group=other_group)
    TaskFactory(workspace=workspace, ran=True)
    client = api("viewer")

    def ids(value):
        body = expect(client.get("/api/tasks", {"queueReason": value}), 200)
        return {row["id"] for row in body["data"]}

    busy_turns = {str(next_turn.pk), str(grouped_next_turn.pk)}
    assert ids("group_busy") == {str(blocked.pk), str(blocked_by_it.pk)}
    assert ids("task_busy") == busy_turns
    assert ids("group_busy,task_busy") == {str(blocked.pk), str(blocked_by_it.pk), *busy_turns}
    assert ids("queued") == {str(plain.pk)}
    assert ids("robot_disabled,queued") == {str(disabled.pk), str(plain.pk)}
    assert ids("no_worker") == set()
    assert str(holder.pk) not in ids("group_busy,queued,robot_disabled,task_busy,no_worker")
    stats = expect(client.get("/api/tasks/stats", {"queueReason": "group_busy"}), 200)
    assert stats["data"]["pending"] == 2
    TaskRun.objects.filter(task=holder).transition(W.COMPLETED)  # its group is free
    assert ids("group_busy") == {str(blocked_by_it.pk)}
    assert ids("queued") == {str(plain.pk), str(blocked.pk)}
    presence.forget("host:1")  # no worker alive: the same tasks, other reasons
    waiting = {str(blocked.pk), str(plain.pk), str(blocked_by_it.pk), *busy_turns}
    assert ids("no_worker") == waiting
    assert ids("queued") == ids("group_busy") == ids("task_busy") == set()
    assert ids("robot_disabled") == {str(disabled.pk)}
    assert ids("no_worker,queued") == waiting


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    ("reasons", "one_time"),
    [
        ("queued", True),
        ("group_busy,task_busy", True),
        ("no_worker", True),
        ("queued,no_worker", False),
    ],
)
def test_a_filter_that_needs_a_worker_or_none_asks_once(api, workspace, reasons, one_time):
    """Whether a worker is alive is the same for every task: a filter whose reasons all
    need one (or `no_worker` alone) says so on its own, and PostgreSQL evaluates it once
    for the query instead of computing each waiting task's reason."""
    queued(workspace)
    with CaptureQueriesContext(connection) as queries:
        expect(api("viewer").get("/api/tasks", {"queueReason": reasons}), 200)
    (page,) = [q["sql"] for q in queries if "runs_workerpresence" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + page)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert ("One-Time Filter" in plan) == one_time, plan


@pytest.mark.postgres_only
def test_a_generic_plan_reads_the_busy_tasks_from_the_live_runs_index():
    """psycopg prepares a statement it runs five times, and PostgreSQL then runs a generic
    plan if it costs no more than planning each run. The tasks with a run going on must
    come from the partial index of live runs in that plan too: with the status a
    parameter it could not, and PostgreSQL planned each list request anew (2 ms of 5 at
    1M tasks)."""
    sql, params = busy_tasks().query.sql_with_params()
    numbers = itertools.count(1)
    prepared = re.sub("%s", lambda _: f"${next(numbers)}", sql)
    arguments = f"({', '.join(['%s'] * len(params))})" if params else ""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("SET LOCAL enable_seqscan = off")  # an empty table is read whole
        cursor.execute(f"PREPARE busy AS {prepared}")
        cursor.execute(f"EXPLAIN EXECUTE busy{arguments}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE busy")
    assert "taskrun_live_heartbeat_idx" in plan, plan


def test_an_unknown_reason_is_a_400_listing_the_allowed_ones(api, workspace):
    body = assert_error(
        api("viewer").get("/api/tasks", {"queueReason": "stuck"}), 400, "VALIDATION_ERROR"
    )
    assert "no_worker" in str(body) and "group_busy" in str(body)


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_filter_by_persona(api, workspace, persona):
    worker_alive()
    task = queued(workspace)
    response = api(persona).get("/api/tasks", {"queueReason": "queued"})
    if persona == "anonymous":
        expect(response, 401)
        return
    rows = expect(response, 200)["data"]
    # Members see their workspace's queued task; an outsider sees only their own (none).
    assert [row["id"] for row in rows] == ([] if persona == "outsider" else [str(task.pk)])


def list_queries(client, params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/tasks", params)
    assert response.status_code == 200
    return len(queries), response.json()["data"]


@pytest.mark.parametrize("params", [{"limit": 50}, {"limit": 50, "queueReason": "group_busy"}])
def test_reasons_take_no_query_per_row(api, workspace, params, django_assert_num_queries):
    worker_alive()
    client = api("viewer")
    client.get("/api/auth/me")  # the token's last-used stamp is written once
    group = TaskGroupFactory(workspace=workspace)
    running(workspace, group=group)
    queued(workspace, group=group)
    # A full page both times: a page that is not full is every row, and needs no COUNT.
    count, rows = list_queries(client, {**params, "limit": 1})
    assert [row["queueReason"] for row in rows] == ["group_busy"]
    for _ in range(49):
        queued(workspace, group=group)
    with django_assert_num_queries(count):
        response = client.get("/api/tasks", params)
    rows = response.json()["data"]
    assert sum(row["queueReason"] == "group_busy" for row in rows) == 50
