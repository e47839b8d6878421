"""The dashboard's read model, built on the task selectors: a sidebar snapshot in a
fixed number of queries."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.db.models import F, Q, QuerySet, UUIDField

from config.compiled import CompiledQuery, Slots
from tasks import selectors as tasks
from tasks.models import Task, TaskGroup
from tasks.workflow import CONSOLE_ALIASES

SIDEBAR_ROWS_PER_STATE = 3
SIDEBAR_GROUPS = 50
SIDEBAR_STATES = ("queued", "processing", "success", "failed")
# Newest first (nulls last), the order of the index task_ws_workflow_recent_idx.
LIST_ORDER = (F("updated_at").desc(nulls_last=True), F("id").desc(nulls_last=True))


def _newest_of(status: str) -> CompiledQuery:
    """The ids and update times of the newest live, unarchived tasks of one workflow
    status in the workspaces given at each run: compiled once (config.compiled), as the
    ORM built it for 0.4 ms a state. One status a query, each the head of its index range:
    a state of two statuses (failed: FAILED and ERROR) in one query sorted all of them
    (a workspace's failed tasks only grow)."""
    return CompiledQuery(
        lambda: (
            tasks.live_tasks()
            .filter(workspace_id__in=Slots("workspaces", UUIDField()), archived=False)
            .filter(workflow_status=status)
            .order_by(*LIST_ORDER)
            .values_list("pk", "updated_at")[:SIDEBAR_ROWS_PER_STATE]
        )
    )


_NEWEST = {
    status: _newest_of(status) for state in SIDEBAR_STATES for status in CONSOLE_ALIASES[state]
}


def _newest_ids(state: str, workspaces: list[UUID]) -> list[UUID]:
    """The ids of the newest tasks in `state`: its statuses' heads merged in LIST_ORDER."""
    heads = [
        row
        for status in CONSOLE_ALIASES[state]
        for row in _NEWEST[status].tuples(workspaces=workspaces)
    ]
    heads.sort(key=lambda row: (row[1], row[0]), reverse=True)
    return [pk for pk, _ in heads[:SIDEBAR_ROWS_PER_STATE]]


def sidebar(
    workspace_ids: Sequence[UUID], row_columns: Sequence[str] | None = None
) -> dict[str, Any]:
    """Stats, the newest rows of each state, and the most recently active groups of these
    workspaces (a scope from accounts.access.workspace_scope). The rows are model
    instances, or values() rows of `row_columns` (tasks.selectors.task_row_values)."""
    # One small indexed query of ids per workflow status (SQLite cannot LIMIT inside a
    # UNION), then the rows with their relations at once: building the SQL of a row query
    # with its joins costs more than running it, so it is built once, not four times.
    ids = {state: _newest_ids(state, list(workspace_ids)) for state in SIDEBAR_STATES}
    picked = [pk for state_ids in ids.values() for pk in state_ids]
    by_pk: dict[UUID, Any]
    if row_columns is not None:
        by_pk = tasks.task_row_values_of(picked, row_columns)
    else:
        by_pk = {task.pk: task for task in tasks.task_rows(Task.objects.filter(pk__in=picked))}
    by_state = {state: [by_pk[pk] for pk in state_ids] for state, state_ids in ids.items()}
    groups: QuerySet[TaskGroup] = tasks.visible_groups(workspace_ids).filter(archived=False)
    return {
        "stats": tasks.counted_stats(workspace_ids, Q(archived=False)),
        "tasks_by_status": by_state,
        "task_groups": tasks.recent_groups(groups, SIDEBAR_GROUPS, workspace_ids),
    }
