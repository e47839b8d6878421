"""Starting and answering runs: the seam between the API and the workers.

`queue_run` and `request_answer` are what the rest of the code calls; the
execution work fills in the dispatch to workers behind them.
"""

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from tasks.models import ACTIVE_WORKFLOW, Task, TaskRun, WorkflowStatus


@transaction.atomic
def queue_run(task: Task) -> TaskRun:
    """Adds a PENDING run to the task and marks the task PENDING."""
    number = (task.runs.aggregate(last=Max("number"))["last"] or 0) + 1
    run = TaskRun.objects.create(task=task, number=number, status=WorkflowStatus.PENDING)
    Task.objects.filter(pk=task.pk).update(
        workflow_status=WorkflowStatus.PENDING,
        workflow_completed_at=None,
        updated_at=timezone.now(),
        retries=F("retries") + (1 if number > 1 else 0),
    )
    task.refresh_from_db(
        fields=["workflow_status", "workflow_completed_at", "updated_at", "retries"]
    )
    return run


def request_answer(task: Task) -> None:
    """A new USER message asks the task's robot to answer: a run starts, or the
    running one takes the message as its next turn. Never refused for being busy."""
    if task.workflow_status not in ACTIVE_WORKFLOW:
        queue_run(task)
