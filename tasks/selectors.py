"""Reads of tasks, groups, repositories and robots, scoped to the caller's workspaces.

A caller sees the live (not deleted) tasks of the workspaces it is a member of. The
`*_for` functions are the access policy of one row: 404 for non-members (and rows that
do not exist), 403 for members whose role is below `min_role`. Lists never run a query
per row.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import connections
from django.db.models import (
    Count,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    UUIDField,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncDate
from rest_framework.exceptions import NotFound

from accounts.access import require_role, workspace_roles
from accounts.models import Role, User, Workspace
from config.apitext import as_text
from config.compiled import CompiledModelQuery, CompiledQuery, Slot, Slots, Splice, listed
from config.pagination import Partition, first_rows, rows_of
from tasks import counters, sections
from tasks.models import Repository, Robot, Task, TaskGroup, WorkflowStatus
from tasks.queueing import slot_values as queue_reason_slots
from tasks.queueing import with_queue_reason
from tasks.workflow import waiting_for_input, waits_for_input

ROW_DEFERRED = ("prompt", "output_text", "error")


# -- tasks --------------------------------------------------------------------------------


def live_tasks() -> QuerySet[Task]:
    return Task.objects.filter(deleted=False)


def visible_tasks(workspace_ids: Sequence[UUID]) -> QuerySet[Task]:
    """The live tasks of these workspaces (a scope from accounts.access.workspace_scope)."""
    return live_tasks().filter(workspace_id__in=workspace_ids)


def with_row_relations(queryset: QuerySet[Task]) -> QuerySet[Task]:
    return queryset.select_related("feature", "assignee", "repository", "created_by", "robot")


def task_rows(queryset: QuerySet[Task]) -> QuerySet[Task]:
    """What a list row shows (with why it waits, if it does), without what it never
    carries (they can be large)."""
    return with_queue_reason(with_row_relations(queryset).defer(*ROW_DEFERRED))


def task_row_values(
    ordered: QuerySet[Task],
    order: Sequence[str],
    ids: Any,
    columns: Sequence[str],
    row_sections: Sequence[str] = (),
    *,
    ids_first: bool = False,
) -> list[dict[str, Any]]:
    """A list page's rows of `ids` (a subquery) in `order`, as values() rows of `columns`
    (TaskRowSerializer.VALUES, the order's keys and the sections' columns, related ones
    included): why a task waits, the annotations of `row_sections`, no model instances.
    Compiled once per order, columns and sections (config.compiled): building and
    compiling this query (the queue reason's CASE and subqueries, five joins) took more
    Python time than PostgreSQL took to run it; only `ids` is compiled on each request.

    `ids_first` (a filtered page), on PostgreSQL: the ids are read first and given
    through `taskdesk_page_ids` (tasks migration 0012), so that the rows' statement,
    prepared, is planned once: with the filters' parameters inside it, PostgreSQL
    planned it on every request (3.7 ms, for 1.3 ms of execution). An unfiltered
    page's statement gets its generic plan either way, and one round trip fewer."""
    if ids_first and connections[ordered.db].vendor == "postgresql":
        picked = [row["pk"] for row in ids]  # a values("pk") queryset: no partition
        if not picked:
            return []
        ids = RawSQL("SELECT taskdesk_page_ids(%s::uuid[])", (picked,))
    key = (tuple(order), tuple(columns), tuple(row_sections))
    query = _ROW_PAGES.get(key)
    if query is None:
        page = rows_of(ordered, order, Splice("ids"))
        for name in row_sections:
            page = sections.ROW_SECTIONS[name].annotate(page)
        # Times and ids that only go out as text, written by PostgreSQL (config.apitext);
        # an order key stays a datetime (a page's cursor is made of it), and the task's id
        # a UUID (rows are matched by it).
        keys = {key.lstrip("-") for key in order}
        text = [name for name in ROW_TEXT if name in columns and name not in keys]
        query = _ROW_PAGES.setdefault(
            key,
            CompiledQuery(
                lambda: as_text(with_queue_reason(page, slotted=True).values(*columns), *text)
            ),
        )
    return query.rows(ordered.db, ids=ids, **queue_reason_slots())


def task_row_values_of(ids: Sequence[UUID], columns: Sequence[str]) -> dict[UUID, dict[str, Any]]:
    """`task_row_values` of these tasks, by id (in no order)."""
    rows = task_row_values(Task.objects.order_by("pk"), ["pk"], listed(ids, UUIDField()), columns)
    return {row["id"]: row for row in rows}


ROW_TEXT = (
    *("created_at", "updated_at", "workflow_started_at", "workflow_completed_at"),
    *("workspace_id", "group_id", "feature_id", "assignee_id", "repository_id"),
    *("created_by_id", "robot_id"),
)
# The order's annotations (tasks.filters.with_priority_rank) are the same for every
# request that sorts by it, and a section's annotation the same for every request that
# asks for it: a page query is known by its order, its columns and its sections.
_ROW_PAGES: dict[tuple[tuple[str, ...], ...], CompiledQuery] = {}


def task_for(user: User, task_id: UUID, min_role: str = Role.VIEWER) -> Task:
    """One live task with what its detail shows, for a member holding `min_role`."""
    try:
        task: Task = _TASK.get(task=task_id, **queue_reason_slots())
    except Task.DoesNotExist:
        raise NotFound() from None
    require_role(user, task.workspace_id, min_role)
    return task


# The detail's task, compiled once (config.compiled): its seven joins and the queue
# reason's subqueries cost 2-3 ms of Python to build and compile on every request, and,
# sent as a new statement each time, PostgreSQL planned them each time.
_TASK = CompiledModelQuery(
    lambda: with_queue_reason(
        with_row_relations(live_tasks()).select_related("group", "workspace"), slotted=True
    ).filter(pk=Slot("task", UUIDField()))
)


def task_ref_for(user: User, task_id: UUID, min_role: str = Role.VIEWER) -> Task:
    """`task_for` for a task that is not the subject (a chat page's task, the task of its
    logs): its own columns but the large texts (ROW_DEFERRED), and its workspace, no other
    relation. PostgreSQL planned the detail's eight-table join in ~5 ms on every request,
    more than the request's SQL ran; this query is compiled once (config.compiled)."""
    found = _TASK_REF.tuples(task=task_id)
    if not found:
        raise NotFound()
    row, width = found[0], len(_TASK_REF_COLUMNS)
    task = Task.from_db("default", _TASK_REF_COLUMNS, row[:width])
    task.workspace = Workspace.from_db("default", _WORKSPACE_COLUMNS, row[width:])
    require_role(user, task.workspace_id, min_role)
    return task


_TASK_REF_COLUMNS = [
    field.attname for field in Task._meta.concrete_fields if field.name not in ROW_DEFERRED
]
_WORKSPACE_COLUMNS = [field.attname for field in Workspace._meta.concrete_fields]
_TASK_REF = CompiledQuery(
    lambda: (
        live_tasks()
        .filter(pk=Slot("task", UUIDField()))
        .values_list(*_TASK_REF_COLUMNS, *[f"workspace__{name}" for name in _WORKSPACE_COLUMNS])
    )
)


# -- stats and volume ---------------------------------------------------------------------


# What each count counts, for the exact path (`task_stats`); `counted_stats` sorts the
# counters' rows by the same rules (tests/tasks/test_counters.py holds the two equal).
STAT_CONDITIONS: dict[str, Q | None] = {
    "total": None,
    "in_progress": Q(workflow_status=WorkflowStatus.IN_PROGRESS),
    "waiting_for_input": waiting_for_input(),
    "pending": Q(workflow_status=WorkflowStatus.PENDING),
    "completed": Q(workflow_status=WorkflowStatus.COMPLETED),
    "failed": Q(workflow_status__in=[WorkflowStatus.FAILED, WorkflowStatus.ERROR]),
    "error": Q(workflow_status=WorkflowStatus.ERROR),
    "halted": Q(workflow_status=WorkflowStatus.HALTED),
}


def task_stats(queryset: QuerySet[Task]) -> dict[str, int]:
    """Counts by execution state in one aggregate query over the tasks: the exact path,
    for filters the counters do not answer (search, repository, ...). Not grouped by
    state, as `counted_stats` is: PostgreSQL's generic plan for a search sorted the
    matching tasks for the groups (a term that matches most of a workspace: +32% for the
    statement, +13% for the request)."""
    # COUNT(workspace_id), a column of the covering index task_ws_state_idx, so that
    # index answers alone (COUNT(id) would visit the table; COUNT(*) takes no filter).
    return _stats(
        queryset.aggregate(
            **{name: Count("workspace", filter=cond) for name, cond in STAT_CONDITIONS.items()}
        )
    )


def counted_stats(workspace_ids: Sequence[UUID], condition: Q) -> dict[str, int]:
    """The same counts summed from the workspace counters (tasks.counters.live_counts:
    the live tasks of these workspaces that `condition` keeps): a few rows per workspace,
    whatever the tasks, grouped by the two columns the counts depend on (a dozen rows at
    most) and sorted into the counts here. One aggregate per count, each with its own
    FILTER, cost 3-4 ms of Python to build on every request: several times its SQL."""
    rows = counters.live_counts(workspace_ids, condition, by=("workflow_status", "awaiting_input"))
    counts = dict.fromkeys(STAT_CONDITIONS, 0)
    for workflow_status, awaiting_input, n in rows:
        counts["total"] += n
        counts["waiting_for_input"] += n if waits_for_input(workflow_status, awaiting_input) else 0
        for name in _STATE_COUNTS.get(workflow_status, ()):
            counts[name] += n
    return _stats(counts)


# The counts a workflow status adds to, besides the total (STAT_CONDITIONS, row by row).
_STATE_COUNTS: dict[str | None, tuple[str, ...]] = {
    WorkflowStatus.IN_PROGRESS: ("in_progress",),
    WorkflowStatus.PENDING: ("pending",),
    WorkflowStatus.COMPLETED: ("completed",),
    WorkflowStatus.FAILED: ("failed",),
    WorkflowStatus.ERROR: ("failed", "error"),
    WorkflowStatus.HALTED: ("halted",),
}


def _stats(counts: dict[str, Any]) -> dict[str, int]:
    counts = {name: int(n) for name, n in counts.items()}
    return {
        "total": counts["total"],
        "inProgress": counts["in_progress"],
        "waitingForInput": counts["waiting_for_input"],
        "pending": counts["pending"],
        "completed": counts["completed"],
        "failed": counts["failed"],
        "error": counts["error"],
        "halted": counts["halted"],
        # The web console's names for the same counts.
        "queued": counts["pending"],
        "processing": counts["in_progress"],
        "success": counts["completed"],
    }


def waiting_for_input_count(workspace: Workspace) -> int:
    return counters.live_total([workspace.id], waiting_for_input() & Q(archived=False))


def volume_by_day(
    workspace_ids: Sequence[UUID], start: date, end: date, repository: Repository | None = None
) -> list[dict[str, Any]]:
    """Live tasks of these workspaces (of `repository`, if given) created per UTC day,
    `start`..`end` inclusive, zeros included. The workspaces' days come from the daily
    rollup (tasks.counters); a repository's are counted from task_repo_created_cover_idx
    alone on PostgreSQL (COUNT(*): the index holds no id)."""
    if repository is None:
        counts = counters.created_per_day(workspace_ids, start, end)
    else:
        counts = _created_per_day(
            visible_tasks(workspace_ids).filter(repository=repository), start, end
        )
    days = (start + timedelta(days=n) for n in range((end - start).days + 1))
    return [{"day": day.isoformat(), "count": counts.get(day, 0)} for day in days]


def _created_per_day(queryset: QuerySet[Task], start: date, end: date) -> dict[date, int]:
    days = (end - start).days + 1
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    return dict(
        queryset.filter(created_at__gte=begin, created_at__lt=begin + timedelta(days=days))
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values_list("day")
        .annotate(count=Count("*"))
        .values_list("day", "count")
    )


# -- task groups ----------------------------------------------------------------------------


def visible_groups(workspace_ids: Sequence[UUID]) -> QuerySet[TaskGroup]:
    return TaskGroup.objects.filter(workspace_id__in=workspace_ids)


def with_group_summary(queryset: QuerySet[TaskGroup]) -> QuerySet[TaskGroup]:
    live = Task.objects.filter(group=OuterRef("pk"), deleted=False)
    count = live.order_by().values("group").annotate(n=Count("pk")).values("n")
    latest = live.order_by("-updated_at", "-id").values("id")[:1]
    return queryset.select_related("repository", "robot").annotate(
        task_count=Subquery(count, output_field=IntegerField()),
        latest_task_id=Subquery(latest),
    )


# What a group's latest task shows (TaskRefSerializer), its state's columns included.
TASK_REF_COLUMNS = (
    *("id", "title", "workspace_id", "workflow_status", "awaiting_input", "mode", "pod_id"),
    "updated_at",
)


def attach_latest_tasks(groups: Sequence[TaskGroup]) -> None:
    ids = [group.latest_task_id for group in groups if group.latest_task_id]  # type: ignore[attr-defined]
    tasks = {task.id: task for task in _LATEST_TASKS.all(ids=ids)}
    for group in groups:
        group.latest_task = tasks.get(group.latest_task_id)  # type: ignore[attr-defined]
        group.task_count = group.task_count or 0  # type: ignore[attr-defined]


GROUP_ORDER = ("-updated_at", "-id")


def group_rows(ordered: QuerySet[TaskGroup], order: Sequence[str], ids: Any) -> list[TaskGroup]:
    """A page of groups (`ids`, a subquery) with their summary, in GROUP_ORDER
    (config.pagination's `rows`)."""
    assert tuple(order) == GROUP_ORDER, order
    return _GROUP_ROWS.all(ordered.db, ids=ids)  # type: ignore[no-any-return]


def recent_groups(
    queryset: QuerySet[TaskGroup], limit: int, workspace_ids: Sequence[UUID]
) -> list[TaskGroup]:
    """The `limit` most recently active of `queryset` (these workspaces' groups): the head
    of each workspace's index, merged, not a sort of every group of the workspaces."""
    partition = Partition("workspace_id", workspace_ids)
    rows = first_rows(queryset, GROUP_ORDER, limit, partition=partition, rows=group_rows)
    attach_latest_tasks(rows)
    return rows


# A page of groups with their summary, one group (its detail), and their latest tasks,
# compiled once (config.compiled): the summary's two subqueries and the joins cost more
# Python to build and compile than PostgreSQL took to run them (1.3 ms of the sidebar's
# compilation).
_GROUP_ROWS = CompiledModelQuery(
    lambda: with_group_summary(
        rows_of(TaskGroup.objects.order_by(*GROUP_ORDER), GROUP_ORDER, Splice("ids"))
    )
)
_GROUP = CompiledModelQuery(
    lambda: with_group_summary(TaskGroup.objects.filter(pk=Slot("group", UUIDField())))
)
_LATEST_TASKS = CompiledModelQuery(
    lambda: Task.objects.filter(id__in=Slots("ids", UUIDField())).only(*TASK_REF_COLUMNS)
)


def group_for(user: User, group_id: UUID) -> TaskGroup:
    try:
        group: TaskGroup = _GROUP.get(group=group_id)
    except TaskGroup.DoesNotExist:
        raise NotFound() from None
    require_role(user, group.workspace_id)
    attach_latest_tasks([group])
    return group


# -- repositories and robots ------------------------------------------------------------------


def visible_repositories(workspace_ids: Sequence[UUID]) -> QuerySet[Repository]:
    return Repository.objects.filter(workspace_id__in=workspace_ids)


def repository_for(user: User, repo_id: UUID, min_role: str = Role.VIEWER) -> Repository:
    repo = Repository.objects.filter(pk=repo_id).first()
    if repo is None:
        raise NotFound()
    require_role(user, repo.workspace_id, min_role)
    return repo


def visible_robots(workspace_ids: Sequence[UUID]) -> QuerySet[Robot]:
    return Robot.objects.filter(workspace_id__in=workspace_ids).select_related("repository")


def robot_for(user: User, robot_id: UUID, min_role: str = Role.VIEWER) -> Robot:
    robot = Robot.objects.select_related("repository").filter(pk=robot_id).first()
    if robot is None:
        raise NotFound()
    require_role(user, robot.workspace_id, min_role)
    return robot


def member_workspace_ids(user: User) -> list[UUID]:
    return list(workspace_roles(user))
