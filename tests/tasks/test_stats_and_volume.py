"""GET /api/tasks/stats and GET /api/tasks/volume."""

from datetime import UTC, datetime, timedelta

import pytest

from tasks import counters
from tasks.models import Task, WorkflowStatus
from tests.factories import RepositoryFactory, TaskFactory
from tests.personas import PERSONAS, READ, assert_error, expect

W = WorkflowStatus


@pytest.mark.parametrize("persona", PERSONAS)
def test_stats_per_persona(api, workspace, persona):
    TaskFactory(ran=True, workspace=workspace)
    expect(api(persona).get("/api/tasks/stats", {"workspaceId": str(workspace.id)}), READ[persona])


def test_stats_replays_the_mobile_seed_and_adds_console_names(api, people, workspace):
    layout = {W.PENDING: 3, W.IN_PROGRESS: 5, W.COMPLETED: 4, W.FAILED: 2, W.ERROR: 1, W.HALTED: 1}
    for status, count in layout.items():
        for n in range(count):
            # The first running and the first queued task wait for input.
            waiting = n == 0 and status in (W.IN_PROGRESS, W.PENDING)
            TaskFactory(
                ran=True, workspace=workspace, workflow_status=status, awaiting_input=waiting
            )
    TaskFactory(ran=True, workspace=workspace, workflow_status=None)  # a card that never ran
    TaskFactory(ran=True, workspace=workspace, deleted=True, workflow_status=W.IN_PROGRESS)
    TaskFactory(ran=True, workspace=workspace, archived=True, workflow_status=W.IN_PROGRESS)
    TaskFactory(ran=True, workspace=people.elsewhere, workflow_status=W.IN_PROGRESS)
    body = expect(api("viewer").get("/api/tasks/stats", {"workspaceId": str(workspace.id)}), 200)
    assert body["data"] == {
        "total": 17,
        "inProgress": 5,
        "waitingForInput": 2,
        "pending": 3,
        "completed": 4,
        "failed": 3,
        "error": 1,
        "halted": 1,
        "queued": 3,
        "processing": 5,
        "success": 4,
    }


def test_stats_take_the_list_filters(api, workspace):
    repo = RepositoryFactory(workspace=workspace)
    TaskFactory(ran=True, workspace=workspace, repository=repo, workflow_status=W.FAILED)
    TaskFactory(ran=True, workspace=workspace, workflow_status=W.FAILED)
    data = api("viewer").get("/api/tasks/stats", {"repoId": str(repo.id)}).json()["data"]
    assert data["total"] == 1 and data["failed"] == 1
    data = api("viewer").get("/api/tasks/stats", {"status": "failed"}).json()["data"]
    assert data["total"] == 2
    assert_error(api("viewer").get("/api/tasks/stats", {"status": "nope"}), 400, "VALIDATION_ERROR")


def test_stats_is_one_query(api, workspace, django_assert_num_queries):
    client = api("viewer")
    client.get("/api/auth/me")
    for status in W.values:
        TaskFactory(ran=True, workspace=workspace, workflow_status=status)
    # token, roles, the one aggregate.
    with django_assert_num_queries(3):
        client.get("/api/tasks/stats", {"workspaceId": str(workspace.id)})


def _created(workspace, when, repo=None):
    """A task created at `when` (created_at is automatic: moved after, and counted in the
    daily rollup as any writer's change)."""
    task = TaskFactory(ran=True, workspace=workspace, repository=repo)
    with counters.tracked([task.pk]):
        Task.objects.filter(pk=task.pk).update(created_at=when)
    return task


@pytest.mark.parametrize("persona", PERSONAS)
def test_volume_per_persona(api, workspace, persona):
    response = api(persona).get("/api/tasks/volume", {"workspaceId": str(workspace.id)})
    expect(response, READ[persona])


def test_volume_is_zero_filled_and_inclusive_in_utc(api, workspace):
    repo = RepositoryFactory(workspace=workspace)
    _created(workspace, datetime(2026, 3, 1, 0, 0, 0, tzinfo=UTC), repo)  # first instant
    _created(workspace, datetime(2026, 3, 3, 23, 59, 59, tzinfo=UTC), repo)  # last instant
    _created(workspace, datetime(2026, 3, 3, 12, 0, tzinfo=UTC), repo)
    _created(workspace, datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC), repo)  # before
    _created(workspace, datetime(2026, 3, 4, 0, 0, 0, tzinfo=UTC), repo)  # after
    _created(workspace, datetime(2026, 3, 2, 12, 0, tzinfo=UTC))  # another repo
    params = {"repoId": str(repo.id), "startDay": "2026-03-01", "endDay": "2026-03-03"}
    body = expect(api("viewer").get("/api/tasks/volume", params), 200)
    assert body["data"] == [
        {"day": "2026-03-01", "count": 1},
        {"day": "2026-03-02", "count": 0},
        {"day": "2026-03-03", "count": 2},
    ]
    params = {"workspaceId": str(workspace.id), "startDay": "2026-03-02", "endDay": "2026-03-02"}
    assert api("viewer").get("/api/tasks/volume", params).json()["data"] == [
        {"day": "2026-03-02", "count": 1}
    ]


def test_volume_defaults_to_the_last_30_days(api, workspace):
    TaskFactory(ran=True, workspace=workspace)
    data = api("viewer").get("/api/tasks/volume", {"workspaceId": str(workspace.id)}).json()["data"]
    today = datetime.now(UTC).date()
    assert len(data) == 30
    assert data[0]["day"] == (today - timedelta(days=29)).isoformat()
    assert data[-1] == {"day": today.isoformat(), "count": 1}


def test_volume_ignores_deleted_tasks(api, workspace):
    task = _created(workspace, datetime(2026, 3, 1, 10, tzinfo=UTC))
    expect(api("admin").delete(f"/api/tasks/{task.id}"), 204)
    params = {"workspaceId": str(workspace.id), "startDay": "2026-03-01", "endDay": "2026-03-01"}
    assert api("viewer").get("/api/tasks/volume", params).json()["data"][0]["count"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"startDay": "2026-02-30"},
        {"endDay": "yesterday"},
        {"startDay": "2020-01-01", "endDay": "2025-06-23"},  # about 2,000 days
        {"startDay": "2026-03-05", "endDay": "2026-03-01"},
    ],
)
def test_volume_bad_input_is_a_400(api, workspace, params):
    scope = {"workspaceId": str(workspace.id)} if params else {}
    assert_error(
        api("viewer").get("/api/tasks/volume", {**scope, **params}), 400, "VALIDATION_ERROR"
    )


def test_volume_accepts_exactly_1100_days(api, workspace):
    params = {"workspaceId": str(workspace.id), "startDay": "2024-01-01"}
    params["endDay"] = (datetime(2024, 1, 1) + timedelta(days=1099)).date().isoformat()
    assert len(api("viewer").get("/api/tasks/volume", params).json()["data"]) == 1100


def test_volume_of_a_repo_outside_the_callers_workspaces_is_not_found(api, people, workspace):
    repo = RepositoryFactory(workspace=people.elsewhere)
    assert_error(api("viewer").get("/api/tasks/volume", {"repoId": str(repo.id)}), 404, "NOT_FOUND")
    assert_error(api("viewer").get("/api/tasks/volume", {"repoId": "bad"}), 404, "NOT_FOUND")
