"""GET/PATCH/DELETE /api/tasks/{id} and POST /api/tasks."""

import pytest

from runs.models import TaskLog, TaskRun
from tasks.models import Task, WorkflowStatus
from tests import recording
from tests.factories import (
    FeatureFactory,
    RepositoryFactory,
    RobotFactory,
    TaskFactory,
    TaskGroupFactory,
)
from tests.personas import MANAGE, PERSONAS, READ, WRITE, assert_error, expect

CREATED = {**WRITE, "owner": 201, "admin": 201, "developer": 201}
DELETED = {**MANAGE, "owner": 204, "admin": 204}


def recorded(event):
    return [e for e in recording.recorded if e["event"] == event]


@pytest.mark.parametrize("persona", PERSONAS)
def test_detail_per_persona(api, workspace, persona):
    task = TaskFactory(ran=True, workspace=workspace)
    expect(api(persona).get(f"/api/tasks/{task.id}"), READ[persona])


def test_malformed_and_unknown_ids_are_not_found(api, workspace):
    assert_error(api("owner").get("/api/tasks/not-a-uuid"), 404, "NOT_FOUND")
    assert_error(
        api("owner").get("/api/tasks/00000000-0000-0000-0000-000000000000"), 404, "NOT_FOUND"
    )
    assert_error(api("owner").patch("/api/tasks/123", {}, format="json"), 404, "NOT_FOUND")


def test_deleted_task_is_not_found(api, workspace):
    task = TaskFactory(ran=True, workspace=workspace, deleted=True)
    assert_error(api("owner").get(f"/api/tasks/{task.id}"), 404, "NOT_FOUND")


def test_detail_adds_prompt_masked_output_group_permissions_runs_logs(api, workspace):
    group = TaskGroupFactory(workspace=workspace, title="Issue 7")
    task = TaskFactory(
        ran=True,
        workspace=workspace,
        group=group,
        prompt="do it",
        output_text="pushed with ghp_abcdefghijklmnopqrstuvwxyz123456 and API_KEY=supersecret1",
        error="",
        workflow_status=WorkflowStatus.COMPLETED,
    )
    run = TaskRun.objects.create(task=task, number=1, status="COMPLETED")
    TaskLog.objects.bulk_create(
        [TaskLog(task=task, run=run, seq=n, line=f"line {n}") for n in range(1, 251)]
    )
    data = api("developer").get(f"/api/tasks/{task.id}").json()["data"]
    assert data["prompt"] == "do it"
    assert "abcdefghijklmnop" not in data["outputText"]
    assert "supersecret1" not in data["outputText"]
    assert "ghp_****" in data["outputText"]
    assert data["group"]["id"] == str(group.id) and data["group"]["title"] == "Issue 7"
    assert data["permissions"] == {"canRetry": True, "canDelete": False, "canHalt": False}
    assert [r["number"] for r in data["runs"]] == [1]
    assert len(data["logs"]) == 200
    assert data["logs"][0] == {
        "seq": 51,
        "runNumber": 1,
        "stream": "stdout",
        "line": "line 51",
        "createdAt": data["logs"][0]["createdAt"],
    }
    assert data["logs"][-1]["seq"] == 250
    owner = api("owner").get(f"/api/tasks/{task.id}").json()["data"]
    assert owner["permissions"]["canDelete"] is True
    viewer = api("viewer").get(f"/api/tasks/{task.id}").json()["data"]
    assert viewer["permissions"] == {"canRetry": False, "canDelete": False, "canHalt": False}


def test_logs_absent_when_disabled_for_the_workspace_or_deployment(api, workspace, settings):
    task = TaskFactory(ran=True, workspace=workspace)
    workspace.features = {"taskLogsEnabled": False}
    workspace.save()
    assert "logs" not in api("viewer").get(f"/api/tasks/{task.id}").json()["data"]
    workspace.features = {"taskLogsEnabled": True}
    workspace.save()
    settings.TASK_LOGS_ENABLED = False
    assert "logs" not in api("viewer").get(f"/api/tasks/{task.id}").json()["data"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_patch_per_persona(api, workspace, persona):
    task = TaskFactory(ran=True, workspace=workspace)
    expect(
        api(persona).patch(f"/api/tasks/{task.id}", {"status": "DONE"}, format="json"),
        WRITE[persona],
    )


def test_patch_replays_the_mobile_seed(api, workspace, django_capture_on_commit_callbacks):
    task = TaskFactory(
        ran=True, workspace=workspace, title="Old", workflow_status=WorkflowStatus.PENDING
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api("developer").patch(
            f"/api/tasks/{task.id}",
            {"status": "IN_PROGRESS", "workflowStatus": "IN_PROGRESS", "archived": False},
            format="json",
        )
    body = expect(response, 200)
    assert body["success"] is True
    assert {"id", "title", "status", "workflowStatus", "archived", "updatedAt"} <= set(body["task"])
    assert body["task"]["status"] == "IN_PROGRESS"
    assert body["task"]["workflowStatus"] == "IN_PROGRESS"
    assert body["task"]["archived"] is False
    [update] = recorded("workflow-status-update")
    assert update["channel"] == f"private-task-{task.id}"
    assert update["data"]["taskId"] == str(task.id)
    assert update["data"]["workflowStatus"] == "IN_PROGRESS"
    assert update["data"]["timestamp"].endswith("Z")
    [updated] = recorded("task-updated")
    assert updated["channel"] == "private-workspace-acme"
    assert recorded("task-title-update") == []


def test_title_change_sends_both_title_events(api, workspace, django_capture_on_commit_callbacks):
    task = TaskFactory(ran=True, workspace=workspace, title="Old")
    with django_capture_on_commit_callbacks(execute=True):
        api("developer").patch(f"/api/tasks/{task.id}", {"title": "New"}, format="json")
    payload = {"taskId": str(task.id), "newTitle": "New", "previousTitle": "Old"}
    [task_event] = recorded("task-title-update")
    [workspace_event] = recorded("workspace-task-title-update")
    assert task_event["channel"] == f"private-task-{task.id}" and task_event["data"] == payload
    assert workspace_event["channel"] == "private-workspace-acme"
    assert workspace_event["data"] == payload
    assert recorded("workflow-status-update") == []


def test_events_leave_only_after_commit(api, workspace, django_capture_on_commit_callbacks):
    task = TaskFactory(ran=True, workspace=workspace, title="Old")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api("developer").patch(f"/api/tasks/{task.id}", {"title": "New"}, format="json")
    assert recording.recorded == []
    for callback in callbacks:
        callback()
    assert len(recorded("task-title-update")) == 1


def test_invalid_patch_sends_nothing(api, workspace, django_capture_on_commit_callbacks):
    task = TaskFactory(ran=True, workspace=workspace)
    with django_capture_on_commit_callbacks(execute=True):
        response = api("developer").patch(
            f"/api/tasks/{task.id}", {"title": "New", "workflowStatus": "DANCING"}, format="json"
        )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert recording.recorded == []
    task.refresh_from_db()
    assert task.title != "New"


def test_archiving_stamps_archived_at(api, workspace):
    task = TaskFactory(ran=True, workspace=workspace)
    body = api("developer").patch(f"/api/tasks/{task.id}", {"archived": True}, format="json").json()
    assert body["task"]["archived"] is True and body["task"]["archivedAt"]
    task.refresh_from_db()
    assert task.archived_at is not None
    api("developer").patch(f"/api/tasks/{task.id}", {"archived": False}, format="json")
    task.refresh_from_db()
    assert task.archived_at is None


def test_patch_assignee_and_feature_must_be_of_the_workspace(api, people, workspace):
    task = TaskFactory(ran=True, workspace=workspace)
    feature = FeatureFactory(workspace=workspace)
    ok = api("developer").patch(
        f"/api/tasks/{task.id}",
        {"assigneeId": str(people["viewer"].id), "featureId": str(feature.id)},
        format="json",
    )
    expect(ok, 200)
    task.refresh_from_db()
    assert task.assignee == people["viewer"] and task.feature == feature
    foreign = FeatureFactory(workspace=people.elsewhere)
    for body in ({"assigneeId": str(people["outsider"].id)}, {"featureId": str(foreign.id)}):
        response = api("developer").patch(f"/api/tasks/{task.id}", body, format="json")
        assert_error(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("persona", PERSONAS)
def test_delete_per_persona(api, workspace, persona):
    task = TaskFactory(ran=True, workspace=workspace)
    expect(api(persona).delete(f"/api/tasks/{task.id}"), DELETED[persona])


def test_delete_is_soft_and_hides_the_task_everywhere(api, workspace):
    task = TaskFactory(
        ran=True, workspace=workspace, awaiting_input=True, workflow_status="PENDING"
    )
    assert api("admin").delete(f"/api/tasks/{task.id}").status_code == 204
    stored = Task.objects.get(pk=task.pk)
    assert stored.deleted and stored.deleted_at
    assert api("owner").get("/api/tasks").json()["data"] == []
    stats = api("owner").get("/api/tasks/stats").json()["data"]
    assert stats["total"] == 0 and stats["waitingForInput"] == 0 and stats["pending"] == 0
    count = api("owner").get("/api/workspaces/acme/tasks/notifications-count").json()
    assert count["data"]["waitingForInputCount"] == 0
    assert_error(api("owner").get(f"/api/tasks/{task.id}"), 404, "NOT_FOUND")
    assert_error(api("owner").delete(f"/api/tasks/{task.id}"), 404, "NOT_FOUND")


@pytest.mark.parametrize("persona", PERSONAS)
def test_create_per_persona(api, workspace, persona):
    response = api(persona).post(
        "/api/tasks", {"workspaceId": str(workspace.id), "title": "New card"}, format="json"
    )
    expect(response, CREATED[persona] if persona != "anonymous" else 401)


def test_create_without_run_is_a_todo_card_that_never_ran(api, workspace, people):
    repo = RepositoryFactory(workspace=workspace, default_branch="trunk")
    robot = RobotFactory(workspace=workspace)
    response = api("developer").post(
        "/api/tasks",
        {
            "workspaceId": str(workspace.id),
            "title": "Card",
            "description": "d",
            "priority": "HIGH",
            "repositoryId": str(repo.id),
            "robotId": str(robot.id),
            "assigneeId": str(people["viewer"].id),
            "mode": "live",
        },
        format="json",
    )
    data = expect(response, 201)["data"]
    assert data["workflowStatus"] is None and data["status"] == "TODO"
    assert data["priority"] == "HIGH" and data["mode"] == "live" and data["branch"] == "trunk"
    assert data["createdBy"]["id"] == str(people["developer"].id)
    assert data["runs"] == []


def test_create_with_run_queues_it(api, workspace):
    response = api("developer").post(
        "/api/tasks", {"workspaceId": str(workspace.id), "title": "Go", "run": True}, format="json"
    )
    data = expect(response, 201)["data"]
    assert data["workflowStatus"] == "PENDING" and data["state"] == "queued"
    assert [run["number"] for run in data["runs"]] == [1]


def test_create_refuses_references_from_another_workspace(api, people, workspace):
    foreign_repo = RepositoryFactory(workspace=people.elsewhere)
    response = api("developer").post(
        "/api/tasks",
        {"workspaceId": str(workspace.id), "title": "x", "repositoryId": str(foreign_repo.id)},
        format="json",
    )
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert "repositoryId" in body["details"]
    assert not Task.objects.filter(title="x").exists()


def test_create_validates_the_body(api, workspace):
    body = assert_error(
        api("developer").post(
            "/api/tasks", {"workspaceId": "nope", "priority": "URGENT"}, format="json"
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert {"workspaceId", "title", "priority"} <= set(body["details"])


def test_create_announces_the_task_to_the_workspace(
    api, workspace, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api("developer").post(
            "/api/tasks", {"workspaceId": str(workspace.id), "title": "Hi"}, format="json"
        )
    data = expect(response, 201)["data"]
    [created] = recorded("task-created")
    assert created["channel"] == "private-workspace-acme"
    assert created["data"]["taskId"] == data["id"]
    assert created["data"]["status"] == "TODO" and created["data"]["workflowStatus"] is None


def test_refused_writes_send_nothing(api, workspace, django_capture_on_commit_callbacks):
    task = TaskFactory(ran=True, workspace=workspace)
    with django_capture_on_commit_callbacks(execute=True):
        api("viewer").patch(f"/api/tasks/{task.id}", {"title": "x"}, format="json")
        api("developer").delete(f"/api/tasks/{task.id}")
        api("viewer").post(
            "/api/tasks", {"workspaceId": str(workspace.id), "title": "x"}, format="json"
        )
    assert recording.recorded == []
