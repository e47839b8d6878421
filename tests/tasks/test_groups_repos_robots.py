"""Task groups, repositories and robots."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Membership, Role
from tasks.models import Repository, Robot, TaskGroup
from tests.factories import (
    RepositoryFactory,
    RobotFactory,
    TaskFactory,
    TaskGroupFactory,
    WorkspaceFactory,
)
from tests.personas import MANAGE, PERSONAS, READ, assert_error, expect
from tests.tasks.test_list_scaling import plan

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


@pytest.fixture
def spread_groups(people) -> list[TaskGroup]:
    """Groups over the viewer's workspace and two more, with ties on updated_at."""
    workspaces = [people.workspace]
    for n in range(2):
        extra = WorkspaceFactory(slug=f"extra{n}")
        Membership.objects.create(workspace=extra, user=people["viewer"], role=Role.VIEWER)
        workspaces.append(extra)
    base = timezone.now() - timedelta(days=1)
    groups = []
    for n in range(13):
        group = TaskGroupFactory(workspace=workspaces[n % 3], archived=n == 7)
        TaskGroup.objects.filter(pk=group.pk).update(updated_at=base + timedelta(minutes=n % 4))
        groups.append(group)
    return list(TaskGroup.objects.filter(pk__in=[g.pk for g in groups]))


def newest_first(groups: list[TaskGroup]) -> list[str]:
    ordered = sorted(groups, key=lambda g: (g.updated_at, str(g.id)), reverse=True)
    return [str(g.id) for g in ordered]


@pytest.mark.parametrize("by_cursor", [False, True], ids=["page", "cursor"])
def test_the_all_workspaces_group_list_is_one_order_page_by_page(api, spread_groups, by_cursor):
    client, seen, query = api("viewer"), [], {"limit": 3}
    while True:
        body = client.get("/api/task-groups", query).json()
        seen += [row["id"] for row in body["data"]]
        if not body["pagination"]["hasMore"]:
            break
        pagination = body["pagination"]
        query = (
            {"limit": 3, "cursor": pagination["nextCursor"]}
            if by_cursor
            else {"limit": 3, "page": pagination["page"] + 1}
        )
    assert seen == newest_first(spread_groups)
    unarchived = api("viewer").get("/api/task-groups", {"archived": "false", "limit": 50})
    assert [row["id"] for row in unarchived.json()["data"]] == newest_first(
        [g for g in spread_groups if not g.archived]
    )


def test_the_sidebar_shows_the_newest_groups_of_all_workspaces(api, spread_groups):
    data = expect(api("viewer").get("/api/dashboard/sidebar"), 200)["data"]
    live = [g for g in spread_groups if not g.archived]
    assert [row["id"] for row in data["taskGroups"]] == newest_first(live)


@pytest.mark.postgres_only
def test_the_all_workspaces_group_page_merges_each_workspace_s_index(api, spread_groups):
    with CaptureQueriesContext(connection) as queries:
        assert api("viewer").get("/api/task-groups", {"limit": 3}).status_code == 200
    (page_sql,) = [q["sql"] for q in queries.captured_queries if "LATERAL" in q["sql"]]
    shown = plan(page_sql, None, "enable_seqscan", "enable_bitmapscan", "enable_sort")
    assert "taskgroup_ws_recent_idx" in shown


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
