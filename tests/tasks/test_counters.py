"""The workspace counters and the daily volume rollup (tasks.counters): exact after any
sequence of writes, repaired by `manage.py repair_counters`, and read at a cost that
does not grow with the tasks."""

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from chat.services import ArtifactInput, post_assistant_message
from tasks import counters, selectors, services, workflow
from tasks.models import Priority, Task, TaskCount, TaskDayCount, TaskStatus, WorkflowStatus
from tests.factories import TaskFactory, WorkspaceFactory

W = WorkflowStatus


def assert_exact() -> None:
    assert counters.stored() == counters.recount()


def assert_stats_agree(workspace_ids) -> None:
    """The counters' stats equal a COUNT over the tasks, for the sidebar's and the
    stats endpoint's default filter, and each count equals a COUNT of the tasks its
    definition names (both paths sort grouped rows into the counts in Python)."""
    live = selectors.visible_tasks(workspace_ids).filter(archived=False)
    stats = selectors.counted_stats(workspace_ids, Q(archived=False))
    assert stats == selectors.task_stats(live)
    in_state = {state: live.filter(workflow_status=state).count() for state in W.values}
    assert stats == {
        "total": live.count(),
        "inProgress": in_state[W.IN_PROGRESS],
        "waitingForInput": live.filter(workflow.waiting_for_input()).count(),
        "pending": in_state[W.PENDING],
        "completed": in_state[W.COMPLETED],
        "failed": in_state[W.FAILED] + in_state[W.ERROR],
        "error": in_state[W.ERROR],
        "halted": in_state[W.HALTED],
        "queued": in_state[W.PENDING],
        "processing": in_state[W.IN_PROGRESS],
        "success": in_state[W.COMPLETED],
    }


class RandomWriter:
    """Random changes through the writers the product uses: the services, the state
    machine, the chat service, the admin."""

    def __init__(self, rng: random.Random, people) -> None:
        self.rng = rng
        self.owner = people["owner"]
        self.workspaces = [people.workspace, people.elsewhere]

    def any_task(self, **filters) -> Task | None:
        pks = list(Task.objects.filter(**filters).values_list("pk", flat=True).order_by("pk"))
        return Task.objects.get(pk=self.rng.choice(pks)) if pks else None

    def step(self) -> str:
        name = self.rng.choice(
            ["create", "create", "patch", "engine", "form", "delete", "restore", "bulk", "admin"]
        )
        getattr(self, name)()
        return name

    def create(self) -> None:
        services.create_task(
            actor=self.owner,
            workspace=self.rng.choice(self.workspaces),
            title="random",
            run=self.rng.random() < 0.4,
        )

    def patch(self) -> None:
        task = self.any_task(deleted=False)
        if task is None:
            return
        changes: dict = {}
        if self.rng.random() < 0.5:
            changes["status"] = self.rng.choice(TaskStatus.values)
        if self.rng.random() < 0.4:
            changes["archived"] = not task.archived
        if self.rng.random() < 0.4:
            changes["priority"] = self.rng.choice(Priority.values)
        allowed = sorted(workflow.TRANSITIONS[task.workflow_status] - workflow.ENGINE_ONLY)
        running = task.runs.filter(status=W.IN_PROGRESS).exists()
        if allowed and not running and self.rng.random() < 0.5:
            changes["workflow_status"] = self.rng.choice(allowed)
        services.update_task(task, actor=self.owner, changes=changes)

    def engine(self) -> None:
        task = self.any_task(deleted=False)
        if task is None:
            return
        with transaction.atomic():
            locked = Task.objects.select_for_update().get(pk=task.pk)
            to = self.rng.choice(sorted(workflow.TRANSITIONS[locked.workflow_status]))
            workflow.move(locked, to)

    def form(self) -> None:
        task = self.any_task(deleted=False)
        if task is None:
            return
        asks = self.rng.random() < 0.6
        artifacts = [ArtifactInput(type="FORM", content={"fields": []})] if asks else []
        post_assistant_message(task, "a question" if asks else "an answer", artifacts=artifacts)

    def delete(self) -> None:
        task = self.any_task(deleted=False)
        if task is not None:
            services.delete_task(task, actor=self.owner)

    def restore(self) -> None:
        deleted = list(Task.objects.filter(deleted=True).values_list("pk", flat=True))
        chosen = self.rng.sample(deleted, min(len(deleted), self.rng.randint(1, 3)))
        services.restore_deleted(Task.objects.filter(pk__in=chosen))

    def bulk(self) -> None:
        pks = list(Task.objects.values_list("pk", flat=True))
        chosen = self.rng.sample(pks, min(len(pks), self.rng.randint(1, 5)))
        services.set_archived(Task.objects.filter(pk__in=chosen), self.rng.random() < 0.5)

    def admin(self) -> None:
        task = self.any_task()
        if task is None:
            return
        task_admin = admin.site._registry[Task]
        if self.rng.random() < 0.3:
            task_admin.delete_queryset(None, Task.objects.filter(pk=task.pk))
            return
        task.status = self.rng.choice(TaskStatus.values)
        task.deleted = self.rng.random() < 0.3
        task.archived = self.rng.random() < 0.3
        task.priority = self.rng.choice(Priority.values)
        task_admin.save_model(None, task, None, True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_writes_keep_the_counters_equal_to_a_count(people, seed):
    writer = RandomWriter(random.Random(seed), people)
    done = [writer.step() for _ in range(80)]
    assert_exact()
    assert set(done) >= {"create", "patch", "engine", "form", "delete", "restore", "bulk"}
    for workspace in writer.workspaces:
        assert_stats_agree([workspace.id])
    assert_stats_agree([w.id for w in writer.workspaces])


def test_every_step_keeps_the_counters_exact(people):
    writer = RandomWriter(random.Random(7), people)
    for _ in range(40):
        step = writer.step()
        assert counters.stored() == counters.recount(), step


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only
def test_concurrent_writers_add_up(people):
    """Eight threads create, move and delete tasks of one workspace at once: each adds
    to its slot's counter rows (two threads a slot) under their lock instead of
    overwriting another's sum, and the reads sum the slots."""
    workspace, owner = people.workspace, people["owner"]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(n: int) -> None:
        try:
            counters._thread.slot = n % 4
            start.wait()
            for i in range(10):
                task = services.create_task(actor=owner, workspace=workspace, title=f"{n}-{i}")
                with transaction.atomic():
                    locked = Task.objects.select_for_update().get(pk=task.pk)
                    workflow.move(locked, W.PENDING)
                if i % 3 == 0:
                    services.delete_task(task, actor=owner)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_exact()
    assert set(TaskCount.objects.values_list("slot", flat=True)) == {0, 1, 2, 3}
    assert selectors.counted_stats([workspace.id], Q(archived=False))["pending"] == 8 * 6


def test_repair_counters_finds_and_fixes_wrong_rows(people, capsys):
    TaskFactory.create_batch(3, workspace=people.workspace, workflow_status=W.COMPLETED)
    call_command("repair_counters", "--check")
    TaskCount.objects.update(n=99)
    TaskDayCount.objects.all().delete()
    with pytest.raises(CommandError, match="2 counter row"):
        call_command("repair_counters", "--check")
    call_command("repair_counters")
    assert "2 row(s) were wrong" in capsys.readouterr().out
    assert_exact()
    assert counters.live_total([people.workspace.id], Q()) == 3


def test_rows_written_behind_the_services_back_are_counted_by_the_repair(people):
    Task.objects.bulk_create(Task(workspace=people.workspace, title=f"raw {n}") for n in range(4))
    assert counters.drift() > 0
    assert counters.rebuild() > 0
    assert_exact()


def test_the_admin_actions_keep_the_counters(people):
    tasks = TaskFactory.create_batch(4, workspace=people.workspace, workflow_status=W.FAILED)
    task_admin = admin.site._registry[Task]
    services.set_archived(Task.objects.filter(pk__in=[t.pk for t in tasks[:2]]), True)
    Task.objects.filter(pk=tasks[2].pk).update(deleted=True)  # as an old soft delete left it
    counters.rebuild()
    services.restore_deleted(Task.objects.filter(pk=tasks[2].pk))
    task_admin.delete_queryset(None, Task.objects.filter(pk=tasks[3].pk))
    assert_exact()
    assert counters.live_total([people.workspace.id], Q()) == 3


# -- reads that do not grow with the data ------------------------------------------------------


def _counts_tasks(queries) -> bool:
    """Whether a query counted the tasks: the page's COUNT(*) or the stats' aggregate
    (the sidebar's per-group task counts, 50 groups at most, are not this)."""
    return any(
        ("COUNT(*)" in q["sql"] and 'FROM "tasks_task"' in q["sql"])
        or 'COUNT("tasks_task"."workspace_id")' in q["sql"]
        for q in queries
    )


@pytest.mark.parametrize("tasks", [1, 50])
def test_stats_read_the_counters_in_one_query(api, workspace, tasks, django_assert_num_queries):
    client = api("viewer")
    client.get("/api/auth/me")
    for n in range(tasks):
        TaskFactory(ran=True, workspace=workspace, workflow_status=W.values[n % len(W.values)])
    with django_assert_num_queries(3) as captured:  # token, roles, the counters
        data = client.get("/api/tasks/stats", {"status": "failed"}).json()["data"]
    assert not _counts_tasks(captured.captured_queries)
    assert data["total"] == len([n for n in range(tasks) if W.values[n % 6] in ("FAILED", "ERROR")])


def test_stats_with_a_filter_the_counters_lack_count_the_tasks(api, workspace):
    task = TaskFactory(ran=True, workspace=workspace, title="needle", workflow_status=W.FAILED)
    TaskFactory(ran=True, workspace=workspace, title="hay", workflow_status=W.FAILED)
    with CaptureQueriesContext(connection) as captured:
        data = api("viewer").get("/api/tasks/stats", {"search": "needle"}).json()["data"]
    assert _counts_tasks(captured.captured_queries)
    assert data["total"] == 1 and task.title == "needle"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, 7),
        ({"status": "failed"}, 7),
        ({"taskStatus": "TODO"}, 10),
        ({"includeArchived": "true"}, 2),
        ({"sortBy": "priority"}, 7),
        ({"priority": "HIGH"}, 3),
        ({"status": "failed", "priority": "HIGH,LOW"}, 3),
    ],
)
def test_the_list_total_comes_from_the_counters(api, workspace, params, expected):
    TaskFactory.create_batch(4, workspace=workspace, workflow_status=W.FAILED)
    TaskFactory.create_batch(3, workspace=workspace, workflow_status=W.FAILED, priority="HIGH")
    TaskFactory.create_batch(2, workspace=workspace, archived=True, workflow_status=W.FAILED)
    TaskFactory.create_batch(3, workspace=workspace)  # TODO cards that never ran
    query = {"workspaceId": str(workspace.id), "page": 1, **params}
    with CaptureQueriesContext(connection) as captured:
        body = api("viewer").get("/api/tasks", query).json()
    assert not _counts_tasks(captured.captured_queries)
    counted = body["pagination"]["totalCount"]
    with CaptureQueriesContext(connection):
        exact = api("viewer").get("/api/tasks", {**query, "search": "Task"}).json()
    assert counted == exact["pagination"]["totalCount"]  # every title holds "Task"
    assert counted == expected


def test_a_list_filtered_by_repository_still_counts_exactly(api, workspace):
    from tests.factories import RepositoryFactory

    repo = RepositoryFactory(workspace=workspace)
    TaskFactory.create_batch(2, workspace=workspace, repository=repo, workflow_status=W.FAILED)
    TaskFactory.create_batch(3, workspace=workspace, workflow_status=W.FAILED)
    body = api("viewer").get("/api/tasks", {"repoId": str(repo.id), "page": 1}).json()
    assert body["pagination"]["totalCount"] == 2


@pytest.mark.parametrize("workspaces", [1, 20])
def test_sidebar_stats_cost_the_same_for_any_number_of_workspaces(
    api, people, workspaces, django_assert_num_queries
):
    client = api("viewer")
    client.get("/api/auth/me")
    from accounts.models import Membership, Role

    for n in range(workspaces - 1):
        extra = WorkspaceFactory(slug=f"extra-{n}")
        Membership.objects.create(workspace=extra, user=people["viewer"], role=Role.VIEWER)
        TaskFactory(ran=True, workspace=extra, workflow_status=W.PENDING)
    TaskFactory(ran=True, workspace=people.workspace, workflow_status=W.PENDING)
    # 10: as test_sidebar_runs_a_fixed_number_of_queries, without groups to read.
    with django_assert_num_queries(10) as captured:
        stats = client.get("/api/dashboard/sidebar").json()["data"]["stats"]
    assert not _counts_tasks(captured.captured_queries)
    assert stats["pending"] == workspaces


@pytest.mark.parametrize("tasks", [1, 50])
def test_volume_reads_the_rollup_in_one_query(api, workspace, tasks, django_assert_num_queries):
    client = api("viewer")
    client.get("/api/auth/me")
    today = datetime.now(UTC).date()
    for n in range(tasks):
        task = TaskFactory(ran=True, workspace=workspace)
        with counters.tracked([task.pk]):
            Task.objects.filter(pk=task.pk).update(
                created_at=datetime.now(UTC) - timedelta(days=n % 300)
            )
    params = {
        "workspaceId": str(workspace.id),
        "startDay": (today - timedelta(days=364)).isoformat(),
        "endDay": today.isoformat(),
    }
    with django_assert_num_queries(3) as captured:  # token, roles, the rollup
        data = client.get("/api/tasks/volume", params).json()["data"]
    assert not any('FROM "tasks_task"' in q["sql"] for q in captured.captured_queries)
    assert len(data) == 365 and sum(day["count"] for day in data) == tasks


def test_volume_counts_a_task_on_its_utc_day_and_forgets_it_when_deleted(api, people, workspace):
    task = TaskFactory(ran=True, workspace=workspace)
    with counters.tracked([task.pk]):
        Task.objects.filter(pk=task.pk).update(created_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    params = {"workspaceId": str(workspace.id), "startDay": "2026-03-01", "endDay": "2026-03-02"}
    data = api("viewer").get("/api/tasks/volume", params).json()["data"]
    assert data == [{"day": "2026-03-01", "count": 1}, {"day": "2026-03-02", "count": 0}]
    services.delete_task(task, actor=people["owner"])
    data = api("viewer").get("/api/tasks/volume", params).json()["data"]
    assert data[0]["count"] == 0
    services.restore_deleted(Task.objects.filter(pk=task.pk))
    assert api("viewer").get("/api/tasks/volume", params).json()["data"][0]["count"] == 1
    assert_exact()
