"""GET /api/tasks: the mobile clients' list and the console's filters."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import ChatRole
from config.filters import without_parameters
from tasks.models import Priority, Task, TaskStatus, WorkflowStatus
from tests.factories import (
    ArtifactFactory,
    ChatMessageFactory,
    FeatureFactory,
    RepositoryFactory,
    RobotFactory,
    TaskFactory,
    TaskGroupFactory,
)
from tests.personas import PERSONAS, READ, assert_error, expect

SEED_ROW_KEYS = {
    "id",
    "title",
    "description",
    "status",
    "priority",
    "workflowStatus",
    "sourceType",
    "mode",
    "podId",
    "createdAt",
    "updatedAt",
    "feature",
    "assignee",
    "repository",
    "createdBy",
    "_count",
}
CONSOLE_ROW_KEYS = {
    "workspaceId",
    "state",
    "eventType",
    "groupId",
    "robot",
    "branch",
    "archived",
    "retries",
    "waitingForInput",
    "queueReason",
    "queueBlockedBy",
    "workflowStartedAt",
    "workflowCompletedAt",
}


def ids(response):
    return [row["id"] for row in response.json()["data"]]


@pytest.mark.parametrize("persona", PERSONAS)
def test_list_by_workspace_id_per_persona(api, workspace, persona):
    TaskFactory(ran=True, workspace=workspace)
    response = api(persona).get("/api/tasks", {"workspaceId": str(workspace.id)})
    body = expect(response, READ[persona])
    if READ[persona] == 200:
        assert len(body["data"]) == 1


@pytest.mark.parametrize("persona", PERSONAS)
def test_list_by_workspace_slug_per_persona(api, workspace, persona):
    TaskFactory(ran=True, workspace=workspace)
    expect(api(persona).get("/api/tasks", {"workspace": "acme"}), READ[persona])


def test_unscoped_list_shows_only_the_callers_workspaces(api, people, workspace):
    mine = TaskFactory(ran=True, workspace=workspace)
    TaskFactory(ran=True, workspace=people.elsewhere)
    assert ids(api("viewer").get("/api/tasks")) == [str(mine.id)]
    assert len(ids(api("outsider").get("/api/tasks"))) == 1


def test_unknown_or_malformed_workspace_is_not_found(api):
    assert_error(api("owner").get("/api/tasks", {"workspaceId": "not-a-uuid"}), 404, "NOT_FOUND")
    assert_error(api("owner").get("/api/tasks", {"workspace": "nope"}), 404, "NOT_FOUND")


def test_row_is_the_mobile_seed_task_object_plus_console_fields(api, people, workspace):
    repo = RepositoryFactory(workspace=workspace, name="web")
    robot = RobotFactory(workspace=workspace, name="bot")
    feature = FeatureFactory(workspace=workspace, title="Login")
    group = TaskGroupFactory(workspace=workspace)
    task = TaskFactory(
        ran=True,
        workspace=workspace,
        repository=repo,
        robot=robot,
        feature=feature,
        group=group,
        assignee=people["developer"],
        created_by=people["owner"],
        message_count=5,
        branch="main",
    )
    response = api("viewer").get("/api/tasks", {"workspaceId": str(workspace.id)})
    body = expect(response, 200)
    row = body["data"][0]
    assert set(row) == SEED_ROW_KEYS | CONSOLE_ROW_KEYS
    assert row["id"] == str(task.id)
    assert row["_count"] == {"chatMessages": 5}
    assert row["feature"] == {"id": str(feature.id), "title": "Login"}
    assert row["assignee"] == {
        "id": str(people["developer"].id),
        "name": "Developer",
        "email": "developer@example.com",
        "image": None,
    }
    assert row["repository"] == {
        "id": str(repo.id),
        "name": "web",
        "repositoryUrl": "https://git.example.com/web.git",
    }
    assert row["createdBy"] == {"id": str(people["owner"].id), "name": "Owner", "image": None}
    assert row["robot"] == {"id": str(robot.id), "name": "bot"}
    assert row["groupId"] == str(group.id)
    assert row["workspaceId"] == str(workspace.id)
    assert row["state"] == "succeeded"
    assert row["createdAt"].endswith("Z")
    assert body["pagination"] == {
        "page": 1,
        "limit": 5,
        "totalCount": 1,
        "totalPages": 1,
        "hasMore": False,
        "nextCursor": None,
    }
    assert "outputText" not in row and "prompt" not in row and "logs" not in row


def test_seed_pagination_example_42_rows_5_a_page(api, workspace):
    TaskFactory.create_batch(42, workspace=workspace, workflow_status="COMPLETED")
    body = api("viewer").get("/api/tasks", {"workspaceId": str(workspace.id), "page": 1}).json()
    assert body["pagination"]["totalCount"] == 42
    assert body["pagination"]["totalPages"] == 9
    assert body["pagination"]["hasMore"] is True
    assert len(body["data"]) == 5
    last = api("viewer").get("/api/tasks", {"workspaceId": str(workspace.id), "page": 9}).json()
    assert len(last["data"]) == 2 and last["pagination"]["hasMore"] is False


def test_a_first_page_that_is_not_full_is_its_own_count(api, workspace):
    """A search has no counter: its total is a COUNT, unless the first page holds fewer
    rows than the limit, which are then all there is (one query fewer, same answer)."""
    for n in range(3):
        TaskFactory(workspace=workspace, title=f"fix the cache {n}", workflow_status="COMPLETED")
    TaskFactory(workspace=workspace, title="docs", workflow_status="COMPLETED")
    client = api("viewer")
    client.get("/api/auth/me")  # the token's last-used stamp is written once
    search = {"workspaceId": str(workspace.id), "search": "CACHE"}
    queries = {}
    pages = {}
    for limit, page in ((5, 1), (2, 1), (2, 2), (2, 3), (5, 2)):
        queries[limit, page], body = _queries_of_body(
            client, {**search, "limit": limit, "page": page}
        )
        pages[limit, page] = (len(body["data"]), body["pagination"])
    every = {"totalCount": 3, "nextCursor": None}
    assert pages[5, 1] == (3, {"page": 1, "limit": 5, "totalPages": 1, "hasMore": False, **every})
    assert pages[2, 1][0] == 2 and pages[2, 1][1]["totalCount"] == 3
    assert pages[2, 1][1]["hasMore"] is True and pages[2, 1][1]["totalPages"] == 2
    assert pages[2, 2] == (1, {"page": 2, "limit": 2, "totalPages": 2, "hasMore": False, **every})
    # Past the end: counted, and not read.
    assert pages[2, 3] == (0, {"page": 3, "limit": 2, "totalPages": 2, "hasMore": False, **every})
    assert pages[5, 2] == (0, {"page": 2, "limit": 5, "totalPages": 1, "hasMore": False, **every})
    assert queries[5, 1] == queries[2, 1] - 1  # not full: no COUNT
    assert queries[2, 2] == queries[2, 1]  # a later page is counted
    assert queries[2, 3] < queries[2, 1]  # past the end: counted, not read
    none = {"workspaceId": str(workspace.id), "search": "nothing like it"}
    count, body = _queries_of_body(client, none)
    assert body["data"] == [] and body["pagination"]["totalCount"] == 0
    assert count <= queries[5, 1]  # no COUNT (on PostgreSQL, no rows to read either)


def test_default_limit_is_20_without_page_or_workspace(api, workspace):
    TaskFactory.create_batch(25, workspace=workspace, workflow_status="COMPLETED")
    assert len(ids(api("viewer").get("/api/tasks"))) == 20
    assert len(ids(api("viewer").get("/api/tasks", {"page": 2}))) == 5


def test_recent_rule_hides_todo_tasks_that_never_ran(api, workspace):
    ran = TaskFactory(ran=True, workspace=workspace, status=TaskStatus.DONE)
    card = TaskFactory(ran=True, workspace=workspace, status=TaskStatus.TODO, workflow_status=None)
    started_card = TaskFactory(
        ran=True, workspace=workspace, status=TaskStatus.IN_PROGRESS, workflow_status=None
    )
    scope = {"workspaceId": str(workspace.id)}
    assert set(ids(api("viewer").get("/api/tasks", scope))) == {str(ran.id), str(started_card.id)}
    everything = api("viewer").get("/api/tasks", {**scope, "showAllStatuses": "true"})
    assert str(card.id) in ids(everything)
    # A status filter is an explicit view: the recent rule does not apply.
    todo = api("viewer").get("/api/tasks", {**scope, "taskStatus": "TODO"})
    assert ids(todo) == [str(card.id)]


def test_include_archived_gives_archived_only(api, workspace):
    live = TaskFactory(ran=True, workspace=workspace)
    archived = TaskFactory(ran=True, workspace=workspace, archived=True)
    scope = {"workspaceId": str(workspace.id)}
    assert ids(api("viewer").get("/api/tasks", scope)) == [str(live.id)]
    only = api("viewer").get("/api/tasks", {**scope, "includeArchived": "true"})
    assert ids(only) == [str(archived.id)]
    assert ids(api("viewer").get("/api/tasks", {**scope, "archived": "true"})) == [str(archived.id)]
    assert ids(api("viewer").get("/api/tasks", {**scope, "archived": "false"})) == [str(live.id)]


def test_deleted_tasks_never_appear(api, workspace):
    TaskFactory(ran=True, workspace=workspace, deleted=True)
    TaskFactory(ran=True, workspace=workspace, deleted=True, archived=True)
    for params in ({}, {"showAllStatuses": "true"}, {"includeArchived": "true"}):
        assert ids(api("owner").get("/api/tasks", params)) == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("running", {"IN_PROGRESS"}),
        ("IN_PROGRESS", {"IN_PROGRESS"}),
        ("processing", {"IN_PROGRESS"}),
        ("queued", {"PENDING"}),
        ("succeeded", {"COMPLETED"}),
        ("success", {"COMPLETED"}),
        ("failed", {"FAILED", "ERROR"}),
        ("halted", {"HALTED"}),
        ("PENDING,HALTED", {"PENDING", "HALTED"}),
        ("waiting_approval", {"PENDING"}),
    ],
)
def test_status_filter_aliases(api, workspace, status, expected):
    # The one task waiting for input: queued, its newest ASSISTANT message asks a FORM.
    for value in WorkflowStatus.values:
        waiting = value == "PENDING"
        TaskFactory(
            ran=True,
            workspace=workspace,
            workflow_status=value,
            title=value,
            awaiting_input=waiting,
        )
    rows = api("viewer").get("/api/tasks", {"status": status}).json()["data"]
    assert {row["workflowStatus"] for row in rows} == expected


def test_waiting_for_input_flag_and_state(api, workspace):
    waiting = TaskFactory(
        ran=True,
        workspace=workspace,
        workflow_status=WorkflowStatus.IN_PROGRESS,
        awaiting_input=True,
    )
    # Finished tasks are not waiting, whatever the flag says.
    TaskFactory(
        ran=True, workspace=workspace, workflow_status=WorkflowStatus.COMPLETED, awaiting_input=True
    )
    rows = {row["id"]: row for row in api("viewer").get("/api/tasks").json()["data"]}
    assert rows[str(waiting.id)]["waitingForInput"] is True
    assert rows[str(waiting.id)]["state"] == "waiting_approval"
    assert sum(row["waitingForInput"] for row in rows.values()) == 1


def test_console_filters(api, workspace):
    repo = RepositoryFactory(workspace=workspace)
    robot = RobotFactory(workspace=workspace)
    group = TaskGroupFactory(workspace=workspace)
    wanted = TaskFactory(
        ran=True,
        workspace=workspace,
        repository=repo,
        robot=robot,
        group=group,
        event_type="chat",
        priority="HIGH",
        source_type="JANITOR",
        title="Fix the Login bug",
        branch="feature/x",
    )
    TaskFactory(ran=True, workspace=workspace, title="other")
    for params in (
        {"repoId": str(repo.id)},
        {"robotId": str(robot.id)},
        {"groupId": str(group.id)},
        {"eventType": "chat"},
        {"priority": "HIGH,CRITICAL"},
        {"sourceType": "JANITOR"},
        {"search": "login"},
        {"search": "FEATURE/"},
        {"repoId": str(repo.id), "status": "succeeded", "eventType": "chat,issue"},
    ):
        assert ids(api("viewer").get("/api/tasks", params)) == [str(wanted.id)], params


@pytest.mark.parametrize(
    "params",
    [
        {"page": "abc"},
        {"limit": "0"},
        {"limit": "100000"},
        {"sortBy": "password"},
        {"sortOrder": "sideways"},
        {"status": "bogus"},
        {"priority": "URGENT"},
        {"eventType": "push"},
        {"archived": "maybe"},
        {"repoId": "not-a-uuid"},
        {"cursor": "garbage!"},
    ],
)
def test_bad_input_is_a_400_never_a_500(api, workspace, params):
    body = assert_error(api("viewer").get("/api/tasks", params), 400, "VALIDATION_ERROR")
    assert set(body["details"]) == set(params)


def test_unknown_enum_value_lists_the_allowed_ones(api, workspace):
    body = assert_error(
        api("viewer").get("/api/tasks", {"priority": "URGENT"}), 400, "VALIDATION_ERROR"
    )
    assert "LOW, MEDIUM, HIGH, CRITICAL" in body["details"]["priority"][0]


def test_unknown_params_are_ignored(api, workspace):
    TaskFactory(ran=True, workspace=workspace)
    assert len(ids(api("viewer").get("/api/tasks", {"colour": "blue"}))) == 1


def test_priority_sorts_by_rank_not_alphabetically(api, workspace):
    for priority in (Priority.MEDIUM, Priority.CRITICAL, Priority.LOW, Priority.HIGH):
        TaskFactory(ran=True, workspace=workspace, priority=priority)
    rows = api("viewer").get("/api/tasks", {"sortBy": "priority", "sortOrder": "asc"}).json()
    assert [row["priority"] for row in rows["data"]] == ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
    rows = api("viewer").get("/api/tasks", {"sortBy": "priority"}).json()
    assert [row["priority"] for row in rows["data"]] == ["CRITICAL", "HIGH", "MEDIUM", "LOW"]


def test_default_order_is_updated_at_desc_ties_by_id(api, workspace):
    now = timezone.now()
    tasks = [TaskFactory(ran=True, workspace=workspace) for _ in range(4)]
    Task.objects.filter(pk__in=[t.pk for t in tasks[:2]]).update(updated_at=now)
    Task.objects.filter(pk__in=[t.pk for t in tasks[2:]]).update(updated_at=now - timedelta(1))
    expected = (
        sorted(str(t.id) for t in tasks[:2])[::-1] + sorted(str(t.id) for t in tasks[2:])[::-1]
    )
    assert ids(api("viewer").get("/api/tasks")) == expected


@pytest.mark.parametrize(
    "sort_by", ["createdAt", "updatedAt", "priority", "title", "status", "workflowStatus"]
)
def test_every_sort_field_pages_by_cursor(api, workspace, sort_by):
    for n in range(7):
        TaskFactory(
            ran=True,
            workspace=workspace,
            title=f"t{n % 3}",
            workflow_status=WorkflowStatus.values[n % 6],
        )
    seen = []
    params = {"sortBy": sort_by, "limit": 3, "showAllStatuses": "true"}
    body = api("viewer").get("/api/tasks", params).json()
    seen += [row["id"] for row in body["data"]]
    while body["pagination"]["nextCursor"]:
        body = (
            api("viewer")
            .get("/api/tasks", {**params, "cursor": body["pagination"]["nextCursor"]})
            .json()
        )
        seen += [row["id"] for row in body["data"]]
    assert len(seen) == len(set(seen)) == 7


def test_cursor_paging_is_stable_while_rows_are_inserted(api, workspace):
    base = timezone.now() - timedelta(hours=1)
    tasks = [TaskFactory(ran=True, workspace=workspace, title=f"t{n}") for n in range(6)]
    for n, task in enumerate(tasks):
        Task.objects.filter(pk=task.pk).update(updated_at=base + timedelta(minutes=n))
    first = api("viewer").get("/api/tasks", {"limit": 3}).json()
    assert [row["title"] for row in first["data"]] == ["t5", "t4", "t3"]
    # New rows land at the top between pages; the next page continues where it stopped.
    TaskFactory(ran=True, workspace=workspace, title="new1")
    TaskFactory(ran=True, workspace=workspace, title="new2")
    cursor = first["pagination"]["nextCursor"]
    second = api("viewer").get("/api/tasks", {"limit": 3, "cursor": cursor}).json()
    assert [row["title"] for row in second["data"]] == ["t2", "t1", "t0"]
    assert second["pagination"]["nextCursor"] is None


def test_latest_message_is_the_newest_message_with_its_artifacts(api, workspace, people):
    task = TaskFactory(ran=True, workspace=workspace)
    ChatMessageFactory(task=task, message="old", timestamp=timezone.now() - timedelta(minutes=5))
    newest = ChatMessageFactory(task=task, message="new", role=ChatRole.ASSISTANT)
    ArtifactFactory(message=newest, type="FORM", content={"keep_me": True})
    TaskFactory(ran=True, workspace=workspace)  # no messages
    rows = api("viewer").get("/api/tasks", {"includeLatestMessage": "true"}).json()["data"]
    by_id = {row["id"]: row for row in rows}
    latest = by_id[str(task.id)]["latestMessage"]
    assert latest["id"] == str(newest.id)
    assert latest["message"] == "new" and latest["role"] == "ASSISTANT"
    assert latest["artifacts"][0]["type"] == "FORM"
    assert latest["artifacts"][0]["content"] == {"keep_me": True}
    assert [row.get("latestMessage") for row in rows if row["id"] != str(task.id)] == [None]
    without = api("viewer").get("/api/tasks").json()["data"]
    assert all("latestMessage" not in row for row in without)


def _tasks_with_messages(workspace, people, count):
    repo = RepositoryFactory(workspace=workspace)
    for _ in range(count):
        task = TaskFactory(
            ran=True,
            workspace=workspace,
            repository=repo,
            robot=RobotFactory(workspace=workspace),
            feature=FeatureFactory(workspace=workspace),
            group=TaskGroupFactory(workspace=workspace),
            assignee=people["developer"],
            created_by=people["owner"],
        )
        message = ChatMessageFactory(task=task, created_by=people["owner"])
        ArtifactFactory(message=message)


def _queries_of(client, params):
    count, body = _queries_of_body(client, params)
    return count, len(body["data"])


def _queries_of_body(client, params):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/tasks", params)
    assert response.status_code == 200
    return len(queries), response.json()


@pytest.mark.parametrize("params", [{"includeLatestMessage": "true", "limit": 50}, {"limit": 50}])
def test_one_row_and_fifty_rows_take_the_same_queries(
    api, people, workspace, params, django_assert_num_queries
):
    client = api("viewer")
    client.get("/api/auth/me")  # the token's last-used stamp is written once, not per list
    _tasks_with_messages(workspace, people, 1)
    one, rows = _queries_of(client, params)
    assert rows == 1
    _tasks_with_messages(workspace, people, 49)
    with django_assert_num_queries(one):
        response = client.get("/api/tasks", params)
    assert len(response.json()["data"]) == 50


def test_list_with_latest_message_runs_seven_queries(
    api, people, workspace, django_assert_num_queries
):
    client = api("viewer")
    client.get("/api/auth/me")
    _tasks_with_messages(workspace, people, 50)
    # token, roles, count, page (+ latest message ids), messages, artifacts, attachments.
    with django_assert_num_queries(7):
        response = client.get("/api/tasks", {"includeLatestMessage": "true", "limit": 50})
    assert len(response.json()["data"]) == 50


def test_a_list_naming_no_filter_reuses_one_validated_filterset(api, workspace):
    without_parameters.cache_clear()
    TaskFactory(workspace=workspace, ran=True)
    client = api("viewer")
    first = expect(client.get("/api/tasks"), 200)
    assert expect(client.get("/api/tasks", {"limit": 5}), 200)["data"] == first["data"]
    assert without_parameters.cache_info()[:2] == (1, 1)  # hits, misses
    # Any of its parameters, even empty, is validated for the request.
    assert expect(client.get("/api/tasks", {"status": ""}), 200)["data"] == first["data"]
    assert_error(client.get("/api/tasks", {"status": "bogus"}), 400, "VALIDATION_ERROR")
    assert without_parameters.cache_info()[:2] == (1, 1)
