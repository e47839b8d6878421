"""The task events clients see (docs/API.md "Realtime events"), built in one place;
`workflow-status-update` is published by the state machine (tasks.workflow)."""

from datetime import datetime

from realtime.events import publish, workspace_channel
from tasks.models import Task


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with `Z`, as the contract writes times."""
    return moment.isoformat().replace("+00:00", "Z")


def announce(task: Task, event: str) -> None:
    """`task-created` / `task-updated` on the task's workspace channel, for list views.
    The task's last announcement of one transaction's `together` block is the one sent
    (realtime.events.publish `replaces`)."""
    publish(
        workspace_channel(task.workspace.slug),
        event,
        {
            "taskId": str(task.pk),
            "workflowStatus": task.workflow_status,
            "status": task.status,
            "updatedAt": iso(task.updated_at),
        },
        replaces=str(task.pk),
    )
