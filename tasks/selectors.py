"""Reads of tasks, groups, repositories and robots, scoped to the caller's workspaces.

A caller sees the live (not deleted) tasks of the workspaces it is a member of;
`workspaceId` or `workspace` (slug) narrows to one of them, 404 when the caller is
not a member. Lists never run a query per row.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db.models import (
    Case,
    Count,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from rest_framework.exceptions import NotFound

from accounts.access import workspace_roles
from accounts.models import Workspace
from chat.models import Artifact, Attachment, ChatMessage
from config.exceptions import invalid
from config.pagination import PageRequest, paginate, parse_page_request
from tasks.filters import TaskFilter, TaskGroupFilter, apply_filters
from tasks.models import (
    ACTIVE_WORKFLOW,
    Priority,
    Repository,
    Robot,
    Task,
    TaskGroup,
    TaskLog,
    WorkflowStatus,
)

LIST_DEFAULT_LIMIT = 20
SCOPED_DEFAULT_LIMIT = 5
MAX_VOLUME_DAYS = 1100
DEFAULT_VOLUME_DAYS = 30
DETAIL_LOG_LINES = 200

# sortBy -> the model field (or annotation) it orders by.
SORT_FIELDS = {
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "priority": "priority_rank",
    "title": "title",
    "status": "status",
    "workflowStatus": "workflow_status",
}
ROW_DEFERRED = ("prompt", "output_text", "error")
PRIORITY_RANK = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2, Priority.CRITICAL: 3}


def waiting_for_input() -> Q:
    """The one definition of "waiting for input", used by stats, list rows, the
    `waiting_approval` alias and notifications-count: queued or running, and the newest
    ASSISTANT message carries an unanswered FORM (`Task.awaiting_input`, which the chat
    services keep in the same transaction as the messages)."""
    return Q(workflow_status__in=ACTIVE_WORKFLOW, awaiting_input=True)


def is_waiting_for_input(task: Task) -> bool:
    """The same rule for one loaded row."""
    return task.workflow_status in ACTIVE_WORKFLOW and task.awaiting_input


# -- scope ------------------------------------------------------------------------------


def member_workspace_ids(user: Any) -> list[UUID]:
    return list(workspace_roles(user))


def _parse_uuid(raw: str) -> UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound() from None


def scoped_workspace_id(user: Any, params: Mapping[str, Any]) -> UUID | None:
    """The workspace `workspaceId` / `workspace` names (None: all the caller's);
    404 when it does not exist, is malformed, or the caller is not a member."""
    roles = workspace_roles(user)
    raw_id = params.get("workspaceId")
    slug = params.get("workspace")
    if raw_id:
        workspace_id = _parse_uuid(raw_id)
    elif slug:
        found = Workspace.objects.filter(slug=slug).values_list("id", flat=True).first()
        if found is None:
            raise NotFound()
        workspace_id = found
    else:
        return None
    if workspace_id not in roles:
        raise NotFound()
    return workspace_id


def live_tasks() -> QuerySet[Task]:
    return Task.objects.filter(deleted=False)


def visible_tasks(user: Any, workspace_id: UUID | None = None) -> QuerySet[Task]:
    """The live tasks of the caller's workspaces (or of one of them)."""
    ids = [workspace_id] if workspace_id else member_workspace_ids(user)
    return live_tasks().filter(workspace_id__in=ids)


def task_for(user: Any, task_id: UUID) -> Task:
    """One visible task, with what its detail needs; 404 otherwise."""
    task = (
        with_row_relations(visible_tasks(user))
        .select_related("group", "workspace")
        .filter(pk=task_id)
        .first()
    )
    if task is None:
        raise NotFound()
    return task


def with_row_relations(queryset: QuerySet[Task]) -> QuerySet[Task]:
    return queryset.select_related("feature", "assignee", "repository", "created_by", "robot")


# -- the task list ------------------------------------------------------------------------


@dataclass
class TaskPage:
    rows: list[Task]
    pagination: dict[str, Any]
    include_latest_message: bool


def filtered_tasks(user: Any, params: Mapping[str, Any]) -> tuple[QuerySet[Task], dict[str, Any]]:
    """Scope + every filter of the list (incl. the archived and "recent" rules)."""
    workspace_id = scoped_workspace_id(user, params)
    return apply_filters(TaskFilter, params, visible_tasks(user, workspace_id))


def task_order(params: Mapping[str, Any]) -> list[str]:
    sort_by = params.get("sortBy") or "updatedAt"
    if sort_by not in SORT_FIELDS:
        raise invalid("sortBy", f"Unknown sort field; allowed: {', '.join(SORT_FIELDS)}.")
    sort_order = (params.get("sortOrder") or "desc").lower()
    if sort_order not in ("asc", "desc"):
        raise invalid("sortOrder", "Must be asc or desc.")
    prefix = "-" if sort_order == "desc" else ""
    return [prefix + SORT_FIELDS[sort_by], prefix + "id"]


def with_priority_rank(queryset: QuerySet[Task]) -> QuerySet[Task]:
    return queryset.annotate(
        priority_rank=Case(
            *[When(priority=name, then=Value(rank)) for name, rank in PRIORITY_RANK.items()],
            default=Value(0),
            output_field=IntegerField(),
        )
    )


def list_default_limit(params: Mapping[str, Any]) -> int:
    scoped = params.get("page") or params.get("workspaceId") or params.get("workspace")
    return SCOPED_DEFAULT_LIMIT if scoped else LIST_DEFAULT_LIMIT


def task_page(
    queryset: QuerySet[Task],
    params: Mapping[str, Any],
    *,
    include_latest_message: bool,
    page_request: PageRequest | None = None,
) -> TaskPage:
    """One page of `queryset` in the requested order, rows ready to serialize."""
    order = task_order(params)
    page_request = page_request or parse_page_request(
        params, default_limit=list_default_limit(params)
    )
    if "priority_rank" in order[0]:
        queryset = with_priority_rank(queryset)
    # A list row never carries these; they can be large.
    queryset = with_row_relations(queryset).defer(*ROW_DEFERRED)
    if include_latest_message:
        queryset = with_latest_message_id(queryset)
    rows, pagination = paginate(queryset, page_request, order)
    if include_latest_message:
        attach_latest_messages(rows)
    return TaskPage(rows, pagination, include_latest_message)


def task_list(user: Any, params: Mapping[str, Any]) -> TaskPage:
    queryset, cleaned = filtered_tasks(user, params)
    return task_page(
        queryset, params, include_latest_message=bool(cleaned.get("includeLatestMessage"))
    )


# -- latest message -----------------------------------------------------------------------


def with_latest_message_id(queryset: QuerySet[Task]) -> QuerySet[Task]:
    newest = ChatMessage.objects.filter(task=OuterRef("pk")).order_by("-timestamp", "-id")
    return queryset.annotate(latest_message_id=Subquery(newest.values("id")[:1]))


def messages_with_parts() -> QuerySet[ChatMessage]:
    return ChatMessage.objects.select_related("created_by").prefetch_related(
        Prefetch("artifacts", queryset=Artifact.objects.order_by("position", "id")),
        Prefetch("attachments", queryset=Attachment.objects.order_by("position", "id")),
    )


def attach_latest_messages(rows: Sequence[Task]) -> None:
    """Sets `row.latest_message` for a whole page: one fetch (plus its two prefetches)."""
    wanted = {row.pk: getattr(row, "latest_message_id", None) for row in rows}
    ids = [message_id for message_id in wanted.values() if message_id]
    messages = {message.id: message for message in messages_with_parts().filter(id__in=ids)}
    for row in rows:
        message_id = wanted[row.pk]
        row.latest_message = messages.get(message_id) if message_id else None  # type: ignore[attr-defined]


# -- stats and volume ---------------------------------------------------------------------


def task_stats(queryset: QuerySet[Task]) -> dict[str, int]:
    """Counts by execution state in one aggregate query."""
    W = WorkflowStatus
    # COUNT(workspace_id), a column of the covering index task_ws_state_idx, so that
    # index answers alone (COUNT(id) would visit the table; COUNT(*) takes no filter).
    counts = queryset.aggregate(
        total=Count("workspace"),
        in_progress=Count("workspace", filter=Q(workflow_status=W.IN_PROGRESS)),
        waiting_for_input=Count("workspace", filter=waiting_for_input()),
        pending=Count("workspace", filter=Q(workflow_status=W.PENDING)),
        completed=Count("workspace", filter=Q(workflow_status=W.COMPLETED)),
        failed=Count("workspace", filter=Q(workflow_status__in=[W.FAILED, W.ERROR])),
        error=Count("workspace", filter=Q(workflow_status=W.ERROR)),
        halted=Count("workspace", filter=Q(workflow_status=W.HALTED)),
    )
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


def stats_for(user: Any, params: Mapping[str, Any]) -> dict[str, int]:
    workspace_id = scoped_workspace_id(user, params)
    # Same filters as the list, but counting every live task (not only "recent" ones).
    queryset, _ = apply_filters(
        TaskFilter, {**_plain(params), "showAllStatuses": "true"}, visible_tasks(user, workspace_id)
    )
    return task_stats(queryset)


def waiting_for_input_count(workspace: Workspace) -> int:
    return (
        live_tasks().filter(workspace=workspace, archived=False).filter(waiting_for_input()).count()
    )


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {key: params.get(key) for key in params}


def _parse_day(params: Mapping[str, Any], name: str) -> date | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return datetime.strptime(str(raw), "%Y-%m-%d").date()
    except ValueError:
        raise invalid(name, "A real date as YYYY-MM-DD is required.") from None


def volume_by_day(user: Any, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Tasks created per UTC day, `startDay`..`endDay` inclusive, zeros included."""
    raw_repo = params.get("repoId")
    if not raw_repo and not params.get("workspaceId"):
        raise invalid("repoId", "Give repoId or workspaceId.")
    workspace_id = scoped_workspace_id(user, params)
    queryset = visible_tasks(user, workspace_id)
    if raw_repo:
        repo = repository_for(user, _parse_uuid(raw_repo))
        queryset = queryset.filter(repository=repo)
    today = datetime.now(UTC).date()
    end = _parse_day(params, "endDay") or today
    start = _parse_day(params, "startDay") or end - timedelta(days=DEFAULT_VOLUME_DAYS - 1)
    if start > end:
        raise invalid("startDay", "startDay must not be after endDay.")
    days = (end - start).days + 1
    if days > MAX_VOLUME_DAYS:
        raise invalid("endDay", f"At most {MAX_VOLUME_DAYS} days at once.")
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    counts = dict(
        queryset.filter(created_at__gte=begin, created_at__lt=begin + timedelta(days=days))
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values_list("day")
        .annotate(count=Count("pk"))
        .values_list("day", "count")
    )
    return [
        {
            "day": (start + timedelta(days=n)).isoformat(),
            "count": counts.get(start + timedelta(n), 0),
        }
        for n in range(days)
    ]


# -- detail -------------------------------------------------------------------------------


def recent_logs(task: Task, limit: int = DETAIL_LOG_LINES) -> list[TaskLog]:
    newest = list(task.logs.select_related("run").order_by("-seq")[:limit])
    return newest[::-1]


# -- task groups ----------------------------------------------------------------------------


def visible_groups(user: Any, workspace_id: UUID | None = None) -> QuerySet[TaskGroup]:
    ids = [workspace_id] if workspace_id else member_workspace_ids(user)
    return TaskGroup.objects.filter(workspace_id__in=ids)


def with_group_summary(queryset: QuerySet[TaskGroup]) -> QuerySet[TaskGroup]:
    live = Task.objects.filter(group=OuterRef("pk"), deleted=False)
    count = live.order_by().values("group").annotate(n=Count("pk")).values("n")
    latest = live.order_by("-updated_at", "-id").values("id")[:1]
    return queryset.select_related("repository", "robot").annotate(
        task_count=Subquery(count, output_field=IntegerField()),
        latest_task_id=Subquery(latest),
    )


def attach_latest_tasks(groups: Sequence[TaskGroup]) -> None:
    ids = [group.latest_task_id for group in groups if group.latest_task_id]  # type: ignore[attr-defined]
    tasks = {task.id: task for task in Task.objects.filter(id__in=ids)}
    for group in groups:
        group.latest_task = tasks.get(group.latest_task_id)  # type: ignore[attr-defined]
        group.task_count = group.task_count or 0  # type: ignore[attr-defined]


def group_list(user: Any, params: Mapping[str, Any]) -> tuple[list[TaskGroup], dict[str, Any]]:
    workspace_id = scoped_workspace_id(user, params)
    queryset, _ = apply_filters(TaskGroupFilter, params, visible_groups(user, workspace_id))
    page_request = parse_page_request(params, default_limit=list_default_limit(params))
    rows, pagination = paginate(with_group_summary(queryset), page_request, ["-updated_at", "-id"])
    attach_latest_tasks(rows)
    return rows, pagination


def recent_groups(queryset: QuerySet[TaskGroup], limit: int) -> list[TaskGroup]:
    rows = list(with_group_summary(queryset).order_by("-updated_at", "-id")[:limit])
    attach_latest_tasks(rows)
    return rows


def group_for(user: Any, group_id: UUID) -> TaskGroup:
    group = with_group_summary(visible_groups(user)).filter(pk=group_id).first()
    if group is None:
        raise NotFound()
    attach_latest_tasks([group])
    return group


# -- repositories and robots ------------------------------------------------------------------


def visible_repositories(user: Any, params: Mapping[str, Any]) -> QuerySet[Repository]:
    workspace_id = scoped_workspace_id(user, params)
    ids = [workspace_id] if workspace_id else member_workspace_ids(user)
    return Repository.objects.filter(workspace_id__in=ids)


def repository_for(user: Any, repo_id: UUID) -> Repository:
    repo = Repository.objects.filter(
        pk=repo_id, workspace_id__in=member_workspace_ids(user)
    ).first()
    if repo is None:
        raise NotFound()
    return repo


def visible_robots(user: Any, params: Mapping[str, Any]) -> QuerySet[Robot]:
    workspace_id = scoped_workspace_id(user, params)
    ids = [workspace_id] if workspace_id else member_workspace_ids(user)
    return Robot.objects.filter(workspace_id__in=ids).select_related("repository")


def robot_for(user: Any, robot_id: UUID) -> Robot:
    robot = (
        Robot.objects.select_related("repository")
        .filter(pk=robot_id, workspace_id__in=member_workspace_ids(user))
        .first()
    )
    if robot is None:
        raise NotFound()
    return robot
