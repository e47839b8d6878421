"""Starting, retrying and halting runs: the seam between the API, chat and the workers.

Every run is a TaskRun row. `queue_run` adds a PENDING run and, on commit, enqueues the
job `run_task(run_id)`. The worker's claim is the one authority on what may start: at
most one IN_PROGRESS run per task and per task group, decided under the group's and the
task's row locks, so extra or early jobs are harmless no-ops. When a run ends,
`start_next` enqueues the oldest PENDING run of the task or its group.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, QuerySet
from django.utils import timezone

from config.exceptions import Conflict
from tasks.events import announce, workflow_status_changed
from tasks.models import ACTIVE_WORKFLOW, Task, TaskGroup, TaskRun, WorkflowStatus

SUPERSEDED = "Superseded by a forced retry: no heartbeat for {seconds} s."


def publish_workflow_status(task_id: Any) -> None:
    """`workflow-status-update` on the task's channel, `task-updated` on its workspace's."""
    task = Task.objects.select_related("workspace").get(pk=task_id)
    workflow_status_changed(task, timezone.now())
    announce(task, "task-updated")


def lock_task(task_id: Any) -> Task:
    """Locks the task's group row (if any), then the task row: always in this order."""
    group_id = Task.objects.filter(pk=task_id).values_list("group_id", flat=True).first()
    if group_id is not None:
        list(TaskGroup.objects.select_for_update().filter(pk=group_id).values_list("pk"))
    return Task.objects.select_for_update(of=("self",)).select_related("repository").get(pk=task_id)


def run_is_stale(run: TaskRun) -> bool:
    last_sign = run.heartbeat_at or run.started_at or run.created_at
    return last_sign < timezone.now() - timedelta(seconds=settings.STALE_RUN_SECONDS)


def runs_in_turn(task_id: Any, group_id: Any) -> QuerySet[TaskRun]:
    """The runs that take turns with the task's: its own and, in a group, the group's.
    Reached through the group's tasks (an index), never as `task_id = x OR
    task.group_id = y` across the join: at 1M runs PostgreSQL scanned the whole table for
    that, 1.2 s for each claim and each end of a grouped run."""
    if group_id is None:
        return TaskRun.objects.filter(task_id=task_id)
    return TaskRun.objects.filter(task_id__in=Task.objects.filter(group_id=group_id).values("pk"))


def group_busy(task: Task) -> bool:
    """Another task of the task's group has a PENDING or IN_PROGRESS run."""
    if task.group_id is None:
        return False
    return (
        TaskRun.objects.filter(task__group_id=task.group_id, status__in=ACTIVE_WORKFLOW)
        .exclude(task_id=task.pk)
        .exists()
    )


def queue_run(task: Task, *, is_retry: bool = False) -> TaskRun:
    """Adds a PENDING run to the task and marks the task PENDING (or keeps it IN_PROGRESS
    while its current run goes on: the new run is its next turn). The job is enqueued on
    commit."""
    with transaction.atomic():
        locked = lock_task(task.pk)
        number = (locked.runs.aggregate(last=Max("number"))["last"] or 0) + 1
        run = TaskRun.objects.create(task=locked, number=number, status=WorkflowStatus.PENDING)
        running = locked.runs.filter(status=WorkflowStatus.IN_PROGRESS).exists()
        status = WorkflowStatus.IN_PROGRESS if running else WorkflowStatus.PENDING
        Task.objects.filter(pk=task.pk).update(
            workflow_status=status,
            workflow_completed_at=None,
            error="",
            updated_at=timezone.now(),
            retries=F("retries") + (1 if is_retry and number > 1 else 0),
        )
        if locked.workflow_status != status:
            publish_workflow_status(task.pk)
        transaction.on_commit(lambda: dispatch(run.pk))
    task.refresh_from_db(
        fields=["workflow_status", "workflow_completed_at", "updated_at", "retries", "error"]
    )
    return run


def dispatch(run_id: Any) -> None:
    from tasks.jobs import run_task

    run_task.enqueue(str(run_id))


def request_answer(task: Task) -> None:
    """A new USER message asks the task's robot to answer: a run starts, or, when one is
    running, a next turn is queued behind it. Never refused for being busy."""
    if not task.runs.filter(status=WorkflowStatus.PENDING).exists():
        queue_run(task)


def retry(task: Task, *, force: bool = False) -> TaskRun:
    """Queues the task again (retries + 1, a new run; earlier runs and logs stay)."""
    with transaction.atomic():
        locked = lock_task(task.pk)
        if locked.archived or (locked.repository is not None and locked.repository.archived):
            raise Conflict("TASK_ARCHIVED", "The task or its repository is archived.")
        active = locked.runs.filter(status__in=ACTIVE_WORKFLOW).order_by("-number").first()
        if locked.workflow_status in ACTIVE_WORKFLOW or active is not None:
            if not force:
                raise Conflict(
                    "TASK_RUNNING",
                    "The task is queued or running; retry with force=true only when it is stale.",
                )
            if active is not None and not run_is_stale(active):
                raise Conflict(
                    "TASK_RUNNING",
                    f"The run is alive (heartbeat within {settings.STALE_RUN_SECONDS} s); "
                    "force applies only to stale runs.",
                )
            if active is not None:
                TaskRun.objects.filter(pk=active.pk, status=active.status).update(
                    status=WorkflowStatus.ERROR,
                    finished_at=timezone.now(),
                    error=SUPERSEDED.format(seconds=settings.STALE_RUN_SECONDS),
                )
        if group_busy(locked):
            raise Conflict("GROUP_BUSY", "Another task of the same group is running.")
        return queue_run(task, is_retry=True)


def halt(task: Task) -> None:
    """Stops the task: queued runs end HALTED at once; a live running run is asked to stop
    (its worker sends SIGTERM, then SIGKILL after RUN_HALT_GRACE_SECONDS) and ends HALTED."""
    with transaction.atomic():
        locked = lock_task(task.pk)
        active = list(locked.runs.filter(status__in=ACTIVE_WORKFLOW))
        if locked.workflow_status not in ACTIVE_WORKFLOW and not active:
            raise Conflict("NOT_RUNNING", "The task is not running.")
        now = timezone.now()
        live = [r for r in active if r.status == WorkflowStatus.IN_PROGRESS and not run_is_stale(r)]
        TaskRun.objects.filter(pk__in=[r.pk for r in active if r not in live]).update(
            status=WorkflowStatus.HALTED, finished_at=now, error="Halted."
        )
        if live:
            TaskRun.objects.filter(pk__in=[r.pk for r in live]).update(halt_requested=True)
        else:
            Task.objects.filter(pk=task.pk).update(
                workflow_status=WorkflowStatus.HALTED,
                workflow_completed_at=now,
                awaiting_input=False,
                updated_at=now,
            )
            publish_workflow_status(task.pk)
            group_id = locked.group_id
            transaction.on_commit(lambda: start_next(task.pk, group_id))
    task.refresh_from_db()


def start_next(task_id: Any, group_id: Any) -> TaskRun | None:
    """Enqueues the oldest PENDING run of the task or of its group (call after commit)."""
    run = (
        runs_in_turn(task_id, group_id)
        .filter(status=WorkflowStatus.PENDING, task__deleted=False)
        .order_by("created_at", "number")
        .first()
    )
    if run is not None:
        dispatch(run.pk)
    return run
