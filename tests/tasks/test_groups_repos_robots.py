"""Task groups, repositories and robots."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tasks.models import Repository, Robot, TaskGroup
from tests.factories import RepositoryFactory, RobotFactory, TaskFactory, TaskGroupFactory
from tests.personas import MANAGE, PERSONAS, READ, assert_error, expect

CREATED = {**MANAGE, "owner": 201, "admin": 201}
DELETED = {**MANAGE, "owner": 204, "admin": 204}


@pytest.mark.parametrize("persona", PERSONAS)
def test_group_list_per_persona(api, workspace, persona):
    TaskGroupFactory(workspace=workspace)
    expect(api(persona).get("/api/task-groups", {"workspaceId": str(workspace.id)}), READ[persona])


@pytest.mark.parametrize("persona", PERSONAS)
def test_group_detail_and_tasks_per_persona(api, workspace, persona):
    group = TaskGroupFactory(workspace=workspace)
    expect(api(persona).get(f"/api/task-groups/{group.id}"), READ[persona])
    expect(api(persona).get(f"/api/task-groups/{group.id}/tasks"), READ[persona])


def test_group_rows_have_task_count_and_latest_task_newest_activity_first(api, workspace):
    repo = RepositoryFactory(workspace=workspace)
    robot = RobotFactory(workspace=workspace)
    old = TaskGroupFactory(workspace=workspace, repository=repo, robot=robot, kind="chat")
    new = TaskGroupFactory(workspace=workspace)
    TaskGroup.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    first = TaskFactory(ran=True, workspace=workspace, group=old, title="first")
    latest = TaskFactory(
        ran=True, workspace=workspace, group=old, title="latest", workflow_status="PENDING"
    )
    TaskFactory(ran=True, workspace=workspace, group=old, deleted=True)
    from tasks.models import Task

    Task.objects.filter(pk=first.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    rows = expect(api("viewer").get("/api/task-groups"), 200)["data"]
    assert [row["id"] for row in rows] == [str(new.id), str(old.id)]
    assert rows[0]["taskCount"] == 0 and rows[0]["latestTask"] is None
    row = rows[1]
    assert row["taskCount"] == 2
    assert row["latestTask"] == {
        "id": str(latest.id),
        "title": "latest",
        "workspaceId": str(workspace.id),
        "workflowStatus": "PENDING",
        "state": "queued",
        "mode": "agent",
        "podId": None,
        "updatedAt": row["latestTask"]["updatedAt"],
    }
    assert row["repository"]["id"] == str(repo.id) and row["robot"]["id"] == str(robot.id)
    assert {"id", "kind", "bindingKey", "title", "archived", "createdAt", "updatedAt"} <= set(row)
    kinds = api("viewer").get("/api/task-groups", {"kind": "chat"}).json()["data"]
    assert [r["id"] for r in kinds] == [str(old.id)]
    assert_error(api("viewer").get("/api/task-groups", {"kind": "nope"}), 400, "VALIDATION_ERROR")


def test_group_list_queries_do_not_grow_with_rows(api, workspace, django_assert_num_queries):
    client = api("viewer")
    client.get("/api/auth/me")
    for _ in range(30):
        group = TaskGroupFactory(
            workspace=workspace, repository=RepositoryFactory(workspace=workspace)
        )
        TaskFactory(ran=True, workspace=workspace, group=group)
    # token, roles, count, page, latest tasks.
    with django_assert_num_queries(5):
        response = client.get("/api/task-groups", {"limit": 30})
    assert len(response.json()["data"]) == 30


def test_group_tasks_lists_every_live_task_of_the_group(api, workspace):
    group = TaskGroupFactory(workspace=workspace)
    card = TaskFactory(ran=True, workspace=workspace, group=group, workflow_status=None)
    ran = TaskFactory(ran=True, workspace=workspace, group=group)
    TaskFactory(ran=True, workspace=workspace)
    TaskFactory(ran=True, workspace=workspace, group=group, deleted=True)
    rows = api("viewer").get(f"/api/task-groups/{group.id}/tasks").json()["data"]
    assert {row["id"] for row in rows} == {str(card.id), str(ran.id)}


def test_groups_of_other_workspaces_are_not_found(api, people):
    group = TaskGroupFactory(workspace=people.elsewhere)
    assert_error(api("owner").get(f"/api/task-groups/{group.id}"), 404, "NOT_FOUND")
    assert_error(api("owner").get("/api/task-groups/nope/tasks"), 404, "NOT_FOUND")


@pytest.mark.parametrize("persona", PERSONAS)
def test_repositories_per_persona(api, workspace, persona):
    repo = RepositoryFactory(workspace=workspace)
    expect(api(persona).get(f"/api/repos/{repo.id}"), READ[persona])
    response = api(persona).post(
        "/api/repos",
        {
            "workspaceId": str(workspace.id),
            "name": "web",
            "repositoryUrl": "https://x.test/web.git",
        },
        format="json",
    )
    expect(response, CREATED[persona])
    expect(
        api(persona).patch(f"/api/repos/{repo.id}", {"archived": True}, format="json"),
        MANAGE[persona],
    )
    expect(api(persona).delete(f"/api/repos/{repo.id}"), DELETED[persona])


def test_repository_round_trip(api, workspace):
    created = (
        api("admin")
        .post(
            "/api/repos",
            {
                "workspaceId": str(workspace.id),
                "name": "web",
                "repositoryUrl": "https://x.test/web.git",
            },
            format="json",
        )
        .json()["data"]
    )
    assert (
        created["defaultBranch"] == "main" and created["repositoryUrl"] == "https://x.test/web.git"
    )
    listed = api("viewer").get("/api/repos", {"workspaceId": str(workspace.id)}).json()["data"]
    assert [r["id"] for r in listed] == [created["id"]]
    assert not Repository.objects.filter(pk=created["id"], archived=True).exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_robots_per_persona(api, workspace, persona):
    robot = RobotFactory(workspace=workspace)
    expect(api(persona).get(f"/api/robots/{robot.id}"), READ[persona])
    response = api(persona).post(
        "/api/robots",
        {"workspaceId": str(workspace.id), "name": "r", "runner": "scripted"},
        format="json",
    )
    expect(response, CREATED[persona])
    expect(
        api(persona).patch(f"/api/robots/{robot.id}", {"enabled": False}, format="json"),
        MANAGE[persona],
    )
    expect(api(persona).delete(f"/api/robots/{robot.id}"), DELETED[persona])


def test_robot_config_is_kept_verbatim(api, workspace):
    config = {"steps": [{"type": "log", "text": "hi", "snake_case": 1, "camelCase": 2}]}
    created = (
        api("admin")
        .post(
            "/api/robots",
            {"workspaceId": str(workspace.id), "name": "r", "runner": "scripted", "config": config},
            format="json",
        )
        .json()["data"]
    )
    assert created["config"] == config and created["runner"] == "scripted"
    assert Robot.objects.get(pk=created["id"]).config == config
    body = assert_error(
        api("admin").post(
            "/api/robots",
            {"workspaceId": str(workspace.id), "name": "r", "runner": "python"},
            format="json",
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert "runner" in body["details"]


def test_robot_repository_must_be_of_the_workspace(api, people, workspace):
    foreign = RepositoryFactory(workspace=people.elsewhere)
    response = api("admin").post(
        "/api/robots",
        {"workspaceId": str(workspace.id), "name": "r", "repositoryId": str(foreign.id)},
        format="json",
    )
    assert_error(response, 400, "VALIDATION_ERROR")
