"""The dashboard's read models, built on the task selectors: a sidebar snapshot in a
fixed number of queries, and the waiting-for-input count of a workspace."""

from collections.abc import Mapping
from typing import Any

from django.db.models import F, QuerySet

from accounts.models import Workspace
from tasks import selectors as tasks
from tasks.filters import status_condition
from tasks.models import Task, TaskGroup

SIDEBAR_ROWS_PER_STATE = 3
SIDEBAR_GROUPS = 50
SIDEBAR_STATES = ("queued", "processing", "success", "failed")
# The list's own order (nulls last), which the index task_ws_workflow_recent_idx follows.
LIST_ORDER = (F("updated_at").desc(nulls_last=True), F("id").desc(nulls_last=True))


def sidebar(user: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    workspace_id = tasks.scoped_workspace_id(user, params)
    live = tasks.visible_tasks(user, workspace_id).filter(archived=False)
    # One small indexed query of ids per state (SQLite cannot LIMIT inside a UNION), then
    # the rows with their relations at once: building the SQL of a row query with its
    # joins costs more than running it, so it is built once, not four times.
    ids = {
        state: list(
            live.filter(status_condition([state]))
            .order_by(*LIST_ORDER)
            .values_list("pk", flat=True)[:SIDEBAR_ROWS_PER_STATE]
        )
        for state in SIDEBAR_STATES
    }
    picked = [pk for state_ids in ids.values() for pk in state_ids]
    rows = tasks.with_row_relations(Task.objects.filter(pk__in=picked))
    by_pk = {task.pk: task for task in rows.defer(*tasks.ROW_DEFERRED)}
    by_state = {state: [by_pk[pk] for pk in state_ids] for state, state_ids in ids.items()}
    groups: QuerySet[TaskGroup] = tasks.visible_groups(user, workspace_id).filter(archived=False)
    return {
        "stats": tasks.task_stats(live),
        "tasks_by_status": by_state,
        "task_groups": tasks.recent_groups(groups, SIDEBAR_GROUPS),
    }


def waiting_for_input_count(workspace: Workspace) -> int:
    return tasks.waiting_for_input_count(workspace)
