"""Whose turn it is: at most one IN_PROGRESS run per task and per task group.

Every decision is taken under the group's and the task's row locks (`lock_task`, always
in that order), so extra or early jobs are harmless no-ops. `new_run` adds a PENDING run
to a locked task; the caller enqueues it after commit (runs.worker).
"""

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.db.models.expressions import BaseExpression
from django.utils import timezone

from accounts.models import User
from config import logs
from runs.models import RunTrigger, TaskRun, W
from tasks import locks, workflow
from tasks.events import announce
from tasks.models import Task, TaskGroup

UNKNOWN: Any = object()


def lock_task(
    task_id: Any,
    *,
    group_id: Any = UNKNOWN,
    related: tuple[str, ...] = ("repository", "workspace"),
    annotations: Mapping[str, Callable[[], BaseExpression]] | None = None,
) -> Task:
    """Locks the task's group row (if any), then the task row: always in this order. A
    caller that knows the task's group (it never changes) saves the read of it; `related`
    and `annotations` are what is read with the task."""
    if group_id is UNKNOWN:
        group_id = Task.objects.filter(pk=task_id).values_list("group_id", flat=True).first()
    lock_group(group_id)
    return locks.lock(task_id, related, annotations)


def lock_group(group_id: Any) -> None:
    if group_id is not None:
        list(TaskGroup.objects.select_for_update().filter(pk=group_id).values_list("pk"))


def lock_for_claim(task_id: Any, group_id: Any) -> Task:
    """`lock_task` for the worker's claim, which read the task's group with the run: the
    task with what a run needs (robot, repository, workspace)."""
    return lock_task(task_id, group_id=group_id, related=("repository", "workspace", "robot"))


def has_next_turn() -> Exists:
    """Whether the task (the row being read) has a PENDING run: its next turn. Read with
    the task's lock, it stays true until the commit (runs are added under that lock)."""
    return Exists(TaskRun.objects.filter(task=OuterRef("pk"), status=W.PENDING))


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
        TaskRun.objects.filter(task__group_id=task.group_id)
        .active()
        .exclude(task_id=task.pk)
        .exists()
    )


def new_run(
    locked: Task,
    *,
    trigger: str = RunTrigger.CREATE,
    requested_by: User | None = None,
    retry_of: TaskRun | None = None,
) -> TaskRun:
    """Adds a PENDING run to the locked task and moves the task to PENDING (or keeps it
    IN_PROGRESS while its current run goes on: the new run is its next turn). Its lineage:
    why (`trigger`), who asked, and the run it retries."""
    runs = locked.runs.aggregate(
        last=Max("number"), running=Count("pk", filter=Q(status=W.IN_PROGRESS))
    )
    number = (runs["last"] or 0) + 1
    run = TaskRun.objects.create(
        task=locked,
        number=number,
        status=W.PENDING,
        request_id=logs.request_id.get() or "",
        trigger=trigger,
        requested_by=requested_by,
        retry_of=retry_of,
    )
    retried = trigger in (RunTrigger.RETRY, RunTrigger.FORCE) and number > 1
    # Under the task's lock: its count as read is the count (move sets it on `locked`).
    counted: dict[str, Any] = {"retries": locked.retries + 1} if retried else {}
    if workflow.move(locked, W.IN_PROGRESS if runs["running"] else W.PENDING, error="", **counted):
        announce(locked, "task-updated")
    return run
