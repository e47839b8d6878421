"""Starting, retrying and halting runs: what the API, the admin and the other apps' hooks
call.

Every run is a TaskRun row. `queue_run` adds a PENDING run and, on commit, enqueues the
job `run_task(run_id)`. The worker's claim is the one authority on what may start (at
most one IN_PROGRESS run per task and per task group, runs.turns); when a run ends, its
job starts the oldest PENDING run of the task or its group.
"""

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from config.exceptions import Conflict
from runs import worker
from runs.models import RunTrigger, TaskRun, W
from runs.turns import group_busy, lock_group, lock_task, new_run, run_is_stale
from tasks import workflow
from tasks.events import announce
from tasks.models import Task

SUPERSEDED = "Superseded by a forced retry: no heartbeat for {seconds} s."


def queue_run(
    task: Task,
    *,
    trigger: str = RunTrigger.CREATE,
    requested_by: User | None = None,
    retry_of: TaskRun | None = None,
) -> TaskRun:
    """Adds a PENDING run to the task (its next turn, when one is running); the job is
    enqueued on commit."""
    with transaction.atomic(savepoint=False):
        run = add_run(
            lock_task(task.pk), trigger=trigger, requested_by=requested_by, retry_of=retry_of
        )
    task.refresh_from_db(
        fields=["workflow_status", "workflow_completed_at", "updated_at", "retries", "error"]
    )
    return run


def add_run(
    locked: Task,
    *,
    trigger: str = RunTrigger.CREATE,
    requested_by: User | None = None,
    retry_of: TaskRun | None = None,
) -> TaskRun:
    """`queue_run` inside the transaction that locked the task (moved in place)."""
    run = new_run(locked, trigger=trigger, requested_by=requested_by, retry_of=retry_of)
    worker.enqueue_with_run(run.pk)
    return run


def request_answer(
    locked: Task, *, trigger: str = RunTrigger.MESSAGE, actor: User | None = None
) -> None:
    """A new USER message (or POST /api/tasks with `run`, or a webhook) asks the task's
    robot to answer: a run starts or, when one is running, a next turn is queued behind
    it. Never refused for being busy; one queued turn answers every message that came
    before it.

    The caller holds the task's row lock (run_requested's senders do): the run is added
    to the task as the caller has it, without reading it again (a chat message's
    transaction is on the path from a message to its answer)."""
    if not locked.runs.filter(status=W.PENDING).exists():
        lock_group(locked.group_id)
        add_run(locked, trigger=trigger, requested_by=actor)


def retry(task: Task, *, force: bool = False, actor: User | None = None) -> TaskRun:
    """Queues the task again (retries + 1, a new run retrying the latest; earlier runs and
    logs stay). `force` supersedes a stale active run."""
    with transaction.atomic():
        locked = lock_task(task.pk)
        if locked.archived or (locked.repository is not None and locked.repository.archived):
            raise Conflict("TASK_ARCHIVED", "The task or its repository is archived.")
        active = locked.runs.active().order_by("-number").first()
        if locked.workflow_status in workflow.ACTIVE or active is not None:
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
                TaskRun.objects.filter(pk=active.pk).transition(
                    W.ERROR, error=SUPERSEDED.format(seconds=settings.STALE_RUN_SECONDS)
                )
        if group_busy(locked):
            raise Conflict("GROUP_BUSY", "Another task of the same group is running.")
        latest = locked.runs.order_by("-number").first()
        return queue_run(
            task,
            trigger=RunTrigger.FORCE if force else RunTrigger.RETRY,
            requested_by=actor,
            retry_of=latest,
        )


def halt(task: Task) -> None:
    """Stops the task: queued runs end HALTED at once; a live running run is asked to stop
    (its worker sends SIGTERM, then SIGKILL after RUN_HALT_GRACE_SECONDS) and ends HALTED."""
    with transaction.atomic():
        locked = lock_task(task.pk)
        if locked.workflow_status not in workflow.ACTIVE and not locked.runs.active().exists():
            raise Conflict("NOT_RUNNING", "The task is not running.")
        if not stop_runs(locked):
            if workflow.move(locked, W.HALTED, awaiting_input=False):
                announce(locked, "task-updated")
            start_next_after_commit(locked)
    task.refresh_from_db()


def stop_runs(locked: Task) -> bool:
    """Ends the locked task's queued (and stale) runs HALTED, asks its live run to stop;
    returns whether a live run is still to end (its worker then sets the outcome and
    starts what waits behind it)."""
    active = list(locked.runs.active())
    live = [r for r in active if r.status == W.IN_PROGRESS and not run_is_stale(r)]
    TaskRun.objects.filter(pk__in=[r.pk for r in active if r not in live]).transition(
        W.HALTED, error="Halted.", finished_at=timezone.now()
    )
    TaskRun.objects.filter(pk__in=[r.pk for r in live]).update(halt_requested=True)
    return bool(live)


def start_next_after_commit(locked: Task) -> None:
    group_id = locked.group_id
    transaction.on_commit(lambda: worker.start_next(locked.pk, group_id))


# -- hooks of the lower apps (connected in RunsConfig.ready) ------------------------------


def on_run_requested(
    sender: Any,
    task: Task,
    trigger: str = RunTrigger.MESSAGE,
    actor: User | None = None,
    **kwargs: Any,
) -> None:
    request_answer(task, trigger=RunTrigger(trigger), actor=actor)


def on_workflow_set_by_person(sender: Any, task: Task, status: str, **kwargs: Any) -> None:
    """PATCH workflowStatus: HALTED stops the runs; another end is refused while one runs."""
    if status == W.HALTED:
        if not stop_runs(lock_task(task.pk)):
            start_next_after_commit(task)
    elif status in workflow.ENDED and task.runs.filter(status=W.IN_PROGRESS).exists():
        raise Conflict("TASK_RUNNING", "A run is going on: halt the task, or let the run end it.")


def on_task_deleting(sender: Any, task: Task, **kwargs: Any) -> None:
    if task.runs.active().exists() and not stop_runs(lock_task(task.pk)):
        start_next_after_commit(task)
