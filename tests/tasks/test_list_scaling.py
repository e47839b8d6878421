"""The task list's reads at scale: every page is a slice of one order however it is read
(deep pages by a deferred join, the all-workspaces list merged from each workspace's
index), its queries do not grow with the rows or the workspaces, and on PostgreSQL its
search and orders are served by indexes."""

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Membership, Role
from tasks.filters import PRIORITY_RANK, search_condition
from tasks.models import Priority, Task, TaskStatus, WorkflowStatus
from tests.factories import RepositoryFactory, RobotFactory, TaskFactory, WorkspaceFactory

SORTS = {
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "title": "title",
    "status": "status",
    "workflowStatus": "workflow_status",
    "priority": "priority",
}


@pytest.fixture
def spread(people: Any) -> list[Task]:
    """Tasks over the viewer's workspace and two more, with ties on every sort key,
    never-ran ones (workflow_status null) among them."""
    viewer = people["viewer"]
    workspaces = [people.workspace]
    for n in range(2):
        extra = WorkspaceFactory(slug=f"extra{n}")
        Membership.objects.create(workspace=extra, user=viewer, role=Role.VIEWER)
        workspaces.append(extra)
    base = timezone.now() - timedelta(days=1)
    tasks = []
    for n in range(17):
        task = TaskFactory(
            workspace=workspaces[n % 3],
            title="abc"[n % 3],
            status=TaskStatus.values[n % 4 + 1],  # never TODO: the recent view shows all
            priority=Priority.values[n % 4],
            workflow_status=None if n % 5 == 0 else WorkflowStatus.values[n % 6],
        )
        tasks.append(task)
        Task.objects.filter(pk=task.pk).update(
            updated_at=base + timedelta(minutes=n % 6), created_at=base - timedelta(hours=n % 4)
        )
    return list(Task.objects.filter(pk__in=[t.pk for t in tasks]))


def expected_order(tasks: list[Task], sort_by: str, descending: bool) -> list[str]:
    """The list's order computed here: key then id in the same direction, nulls last."""

    def key(task: Task) -> Any:
        value = getattr(task, SORTS[sort_by])
        return PRIORITY_RANK[value] if sort_by == "priority" else value

    present = [t for t in tasks if key(t) is not None]
    missing = [t for t in tasks if key(t) is None]
    present.sort(key=lambda t: (key(t), str(t.id)), reverse=descending)
    missing.sort(key=lambda t: str(t.id), reverse=descending)
    return [str(t.id) for t in present + missing]


def pages(client: Any, params: dict[str, Any], *, by_cursor: bool) -> list[str]:
    seen: list[str] = []
    page = 1
    cursor = None
    while True:
        query = {**params, "cursor": cursor} if cursor else {**params, "page": page}
        body = client.get("/api/tasks", query).json()
        seen += [row["id"] for row in body["data"]]
        if not body["pagination"]["hasMore"]:
            return seen
        cursor = body["pagination"]["nextCursor"] if by_cursor else None
        page += 1


@pytest.mark.parametrize("sort_by", list(SORTS))
@pytest.mark.parametrize("descending", [True, False], ids=["desc", "asc"])
@pytest.mark.parametrize("scoped", [False, True], ids=["all-workspaces", "one-workspace"])
def test_every_page_is_a_slice_of_one_order_by_page_or_by_cursor(
    api, people, spread, sort_by, descending, scoped
):
    params: dict[str, Any] = {
        "sortBy": sort_by,
        "sortOrder": "desc" if descending else "asc",
        "limit": 4,
    }
    tasks = spread
    if scoped:
        params["workspaceId"] = str(people.workspace.id)
        tasks = [t for t in spread if t.workspace_id == people.workspace.id]
    expected = expected_order(tasks, sort_by, descending)
    client = api("viewer")
    assert pages(client, params, by_cursor=False) == expected
    assert pages(client, params, by_cursor=True) == expected


def test_a_page_past_the_end_is_empty(api, spread):
    body = api("viewer").get("/api/tasks", {"page": 9, "limit": 4}).json()
    assert body["data"] == [] and body["pagination"]["hasMore"] is False


def test_filters_still_apply_to_the_merged_list(api, spread):
    body = api("viewer").get("/api/tasks", {"search": "B", "limit": 50}).json()
    assert {row["title"] for row in body["data"]} == {"b"}
    body = api("viewer").get("/api/tasks", {"status": "COMPLETED", "limit": 50}).json()
    assert {row["workflowStatus"] for row in body["data"]} == {"COMPLETED"}


def queries_of(client: Any, params: dict[str, Any]) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/tasks", params)
    assert response.status_code == 200
    return len(queries), len(response.json()["data"])


@pytest.mark.parametrize("mode", ["page", "deep page", "cursor", "filtered"])
def test_queries_do_not_grow_with_rows_page_size_or_workspaces(api, people, mode):
    client = api("viewer")
    client.get("/api/auth/me")  # the token's last-used stamp is written once
    for _ in range(3):  # a second page of 1 row exists from the start
        TaskFactory(workspace=people.workspace, ran=True)

    def params(limit: int) -> dict[str, Any]:
        if mode == "deep page":
            return {"limit": limit, "page": 2}
        if mode == "cursor":
            first = client.get("/api/tasks", {"limit": 1}).json()["pagination"]["nextCursor"]
            return {"limit": limit, "cursor": first} if first else {"limit": limit}
        if mode == "filtered":
            return {"limit": limit, "status": "COMPLETED"}
        return {"limit": limit}

    one_workspace = queries_of(client, params(1))
    assert one_workspace[1] == 1
    for n in range(6):
        extra = WorkspaceFactory(slug=f"more{n}")
        Membership.objects.create(workspace=extra, user=people["viewer"], role=Role.VIEWER)
        for _ in range(10):
            TaskFactory(workspace=extra, ran=True)
    many_small = queries_of(client, params(1))
    many_large = queries_of(client, params(50))
    assert one_workspace[0] == many_small[0] == many_large[0]
    assert many_large[1] > many_small[1]


def plan(sql: str, params: Any, *off: str) -> str:
    """EXPLAIN with these plan kinds priced out: shows whether an index *can* serve the
    query (a handful of test rows would be read sequentially and sorted anyway)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in off:
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres_only
def test_a_filtered_page_reads_its_ids_first_and_its_rows_in_one_statement_text(api, spread):
    """The rows' statement of a filtered page does not hold the filters: its text is the
    same for every filter and page, so PostgreSQL prepares and plans it once."""
    client = api("viewer")
    for status in ("COMPLETED", "FAILED"):
        with CaptureQueriesContext(connection) as queries:
            body = client.get("/api/tasks", {"status": status, "limit": 50}).json()
        assert body["data"] and {row["workflowStatus"] for row in body["data"]} == {status}
        (rows,) = [q["sql"] for q in queries if "taskdesk_page_ids(" in q["sql"]]
        assert f"'{status}'" not in rows.split("taskdesk_page_ids(")[0]


@pytest.mark.postgres_only
@pytest.mark.parametrize("in_workspace", [True, False])
def test_search_is_served_by_the_trigram_indexes(workspace, in_workspace):
    """In a workspace, the index scan itself keeps that workspace's matches (its indexes
    begin with the workspace); over all workspaces (the staff admin) the same indexes
    answer the term alone."""
    Task.objects.bulk_create(Task(workspace=workspace, title=f"Task {n}") for n in range(3000))
    TaskFactory(workspace=workspace, title="Fix the cache", ran=True)
    TaskFactory(title="Fix the cache elsewhere", ran=True)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Task._meta.db_table}")
    queryset = Task.objects.filter(search_condition("cache", "title", "description", "branch"))
    if in_workspace:
        queryset = queryset.filter(workspace=workspace)
    titles = {"Fix the cache"} | (set() if in_workspace else {"Fix the cache elsewhere"})
    assert {t.title for t in queryset} == titles
    sql, params = queryset.values("pk").query.sql_with_params()
    trigram = {f"task_ws_{name}_trgm_idx" for name in ("title", "description", "branch")}
    with transaction.atomic(), connection.cursor() as cursor:
        # On a table this small the planner would read the workspace's 3,001 rows and
        # check each; priced as on a large one (where each row's UPPER() and LIKE are
        # the cost: bench/results/scale.md), it lets the trigram indexes narrow them.
        cursor.execute("SET LOCAL cpu_operator_cost = 1")
        shown = plan(sql, params, "enable_seqscan")
    for name in trigram:
        assert name in shown
    conditions = [line for line in shown.splitlines() if "Index Cond" in line]
    assert len(conditions) == 3
    assert all(("workspace_id = " in line) == in_workspace for line in conditions)


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({}, "task_ws_recent_cover_idx"),
        ({"sortOrder": "asc"}, "task_ws_recent_cover_idx"),
        ({"sortBy": "title"}, "task_ws_title_idx"),
        ({"sortBy": "title", "sortOrder": "asc"}, "task_ws_title_idx"),
        ({"sortBy": "status"}, "task_ws_status_idx"),
        ({"sortBy": "createdAt", "sortOrder": "asc"}, "task_ws_created_idx"),
        ({"sortBy": "workflowStatus"}, "task_ws_workflow_desc_idx"),
        ({"sortBy": "workflowStatus", "sortOrder": "asc"}, "task_ws_workflow_asc_idx"),
        ({"sortBy": "priority"}, "task_ws_priority_idx"),
        ({"sortBy": "priority", "sortOrder": "asc"}, "task_ws_priority_idx"),
    ],
)
def test_the_list_reads_each_order_from_an_index_and_merges_workspaces(api, spread, params, index):
    client = api("viewer")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/tasks", {**params, "limit": 3}).status_code == 200
    page_sql = [q["sql"] for q in queries.captured_queries if "LATERAL" in q["sql"]]
    assert len(page_sql) == 1  # the all-workspaces page: each workspace's head, merged
    # Sorting and scanning priced out: a plan that reads the order from an index exists.
    shown = plan(page_sql[0], None, "enable_seqscan", "enable_bitmapscan", "enable_sort")
    assert index in shown


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    ("path", "params", "index"),
    [
        # A full first page: its totalCount is counted.
        ("/api/tasks", {"repoId": "", "limit": 1}, "task_repo_created_cover_idx"),
        ("/api/tasks/stats", {"repoId": ""}, "task_repo_created_cover_idx"),
        (
            "/api/tasks/volume",
            {"repoId": "", "startDay": "2026-01-01", "endDay": "2026-12-31"},
            "task_repo_created_cover_idx",
        ),
        ("/api/tasks", {"robotId": "", "limit": 1}, "task_robot_cover_idx"),
        ("/api/tasks/stats", {"robotId": ""}, "task_robot_cover_idx"),
        ("/api/tasks", {"sourceType": "WEBHOOK", "limit": 1}, "task_ws_source_event_idx"),
        ("/api/tasks", {"eventType": "issue", "limit": 1}, "task_ws_source_event_idx"),
    ],
)
@pytest.mark.django_db(transaction=True)  # VACUUM: the pages' visibility, as on a live table
def test_a_filtered_count_reads_one_index_alone(api, people, path, params, index):
    """The indexes of a repository, a robot, and a source or event type include every
    column the list's, the stats' and the volume's conditions read: PostgreSQL counts
    from them without reading the tasks."""
    repo = RepositoryFactory(workspace=people.workspace)
    robot = RobotFactory(workspace=people.workspace, repository=repo)
    for _ in range(3):
        TaskFactory(
            workspace=people.workspace,
            repository=repo,
            robot=robot,
            source_type="WEBHOOK",
            event_type="issue",
            ran=True,
        )
    # The rest of the workspace (USER, manual): reading it all costs more.
    Task.objects.bulk_create(Task(workspace=people.workspace, title=f"T{n}") for n in range(2000))
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Task._meta.db_table}")
    ids = {"repoId": str(repo.id), "robotId": str(robot.id)}
    query = {name: ids.get(name, value) for name, value in params.items()}
    query["workspaceId"] = str(people.workspace.id)
    with CaptureQueriesContext(connection) as queries:
        assert api("viewer").get(path, query).status_code == 200
    (count,) = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
    # Sequential and bitmap reads priced out: an index is read, and the tasks are not.
    shown = plan(count, None, "enable_seqscan", "enable_bitmapscan")
    assert f"Index Only Scan using {index}" in shown, shown


@pytest.mark.postgres_only
def test_the_servers_prepared_statements_are_planned_with_their_values(api, workspace):
    """A list filtered by a repository, asked again and again: psycopg prepares its
    statements at their fifth run, and PostgreSQL plans each run with its values
    (DATABASE_PLAN_CACHE_MODE). Left to choose, it took a generic plan, made for an
    average repository, and read every task of the bench's largest (40,000 at 1M tasks)
    for a page of 50: 46 ms a request, 18 with the values."""
    repository = RepositoryFactory(workspace=workspace)
    for _ in range(3):
        TaskFactory(workspace=workspace, repository=repository)
    client = api("viewer")
    for _ in range(12):
        response = client.get("/api/tasks", {"repoId": str(repository.pk), "limit": 2})
        assert response.status_code == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), sum(generic_plans), sum(custom_plans) FROM pg_prepared_statements"
        )
        prepared, generic, custom = cursor.fetchone()
    assert prepared and custom, (prepared, custom)
    assert generic == 0
