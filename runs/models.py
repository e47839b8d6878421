"""A task's runs and their log lines.

The tables keep the names they had when they lived in the tasks app (`db_table`):
moving the models to this app changed no schema (see migration 0001).
"""

import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from config.compiled import CompiledUpdate
from tasks.models import Task, WorkflowStatus

W = WorkflowStatus
# A run's status moves only along these, and only through TaskRunQuerySet.transition (or
# its compiled form, CompiledTransition).
RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    W.PENDING: frozenset({W.IN_PROGRESS, W.HALTED, W.ERROR}),  # claimed; halted; superseded
    # its outcome; or back to the queue when its worker stops (runs.worker.requeue_run)
    W.IN_PROGRESS: frozenset({W.COMPLETED, W.FAILED, W.ERROR, W.HALTED, W.PENDING}),
}
RUN_ACTIVE = (W.PENDING, W.IN_PROGRESS)


class TaskRunQuerySet(models.QuerySet["TaskRun"]):
    def active(self) -> "TaskRunQuerySet":
        return self.filter(status__in=RUN_ACTIVE)

    def transition(self, to: str, **fields: Any) -> int:
        """The one writer of run status: moves the runs of this queryset whose status may
        go to `to` (RUN_TRANSITIONS), in one conditional UPDATE, stamping `started_at` or
        `finished_at` (not when requeued); returns how many moved (0: another writer got
        there first)."""
        return self.filter(status__in=sources_of(to)).update(**stamped(to, fields))


def sources_of(to: str) -> list[str]:
    """The statuses a run may move to `to` from."""
    sources = [status for status, targets in RUN_TRANSITIONS.items() if to in targets]
    if not sources:
        raise ValueError(f"No run moves to {to}.")
    return sources


def stamped(to: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A transition's columns: its status, its fields, and the time it started or ended
    unless given (a requeued run neither starts nor ends)."""
    columns = {"status": to, **fields}
    if to != W.PENDING:
        columns.setdefault("started_at" if to == W.IN_PROGRESS else "finished_at", timezone.now())
    return columns


class CompiledTransition:
    """`TaskRunQuerySet.transition` of the runs `build()` selects, its values in `Slot`s,
    compiled once per status and fields (config.compiled): the moves every run makes."""

    def __init__(self, build: Callable[[], models.QuerySet["TaskRun"]]) -> None:
        self.build = build
        self._updates: dict[str, CompiledUpdate] = {}

    def __call__(self, to: str, fields: dict[str, Any], **slots: Any) -> int:
        update = self._updates.get(to)
        if update is None:
            sources = sources_of(to)
            update = self._updates.setdefault(
                to, CompiledUpdate(lambda: self.build().filter(status__in=sources))
            )
        return update.update(stamped(to, fields), **slots)


class RunTrigger(models.TextChoices):
    """Why a run was queued (TaskRun.trigger)."""

    CREATE = "create", "Created with run"
    MESSAGE = "message", "A USER message asked for an answer"
    WEBHOOK = "webhook", "A repository webhook"
    RETRY = "retry", "Retry"
    FORCE = "force", "Forced retry of a stale run"
    REQUEUE = "requeue", "Requeued: its worker stopped"


class TaskRun(models.Model):
    """One attempt at a task. Retries add runs; earlier runs and their logs stay."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="runs")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=WorkflowStatus.choices, default=WorkflowStatus.PENDING
    )
    worker_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    halt_requested = models.BooleanField(default=False)
    # The X-Request-ID of the request that queued it: its worker's log records carry it.
    request_id = models.CharField(max_length=64, blank=True, default="")
    # Lineage: why it was queued, by whom, and the run it retries (retry, force, requeue).
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices, default=RunTrigger.CREATE)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retried_by"
    )

    objects = TaskRunQuerySet.as_manager()

    class Meta:
        db_table = "tasks_taskrun"
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["task", "number"], name="taskrun_unique_number")
        ]
        indexes = [
            models.Index(
                fields=["heartbeat_at"],
                condition=Q(status="IN_PROGRESS"),
                name="taskrun_live_heartbeat_idx",
            ),
            # The reaper's "queued and never started" sweep, each minute.
            models.Index(
                fields=["created_at"],
                condition=Q(status="PENDING"),
                name="taskrun_pending_created_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} run {self.number}"


class LogStream(models.TextChoices):
    STDOUT = "stdout"
    STDERR = "stderr"
    SYSTEM = "system"


class TaskLog(models.Model):
    """One log line. `seq` numbers a task's lines across all its runs, with no gaps."""

    id = models.BigAutoField(primary_key=True)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="logs")
    run = models.ForeignKey(TaskRun, on_delete=models.CASCADE, related_name="logs")
    seq = models.PositiveBigIntegerField()
    stream = models.CharField(max_length=8, choices=LogStream.choices, default=LogStream.STDOUT)
    line = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "tasks_tasklog"
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["task", "seq"], name="tasklog_unique_seq")]

    def __str__(self) -> str:
        return f"{self.task_id}#{self.seq}"


class WorkerPresence(models.Model):
    """One row per live worker process (`host:pid`, the `worker_id` its runs record),
    stamped every WORKER_HEARTBEAT_SECONDS by runs.presence.beat; a worker that stops
    cleanly deletes it (`forget`), a killed one leaves it to go stale."""

    worker_id = models.CharField(max_length=200, primary_key=True)
    hostname = models.CharField(max_length=200, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name_plural = "worker presence"

    def __str__(self) -> str:
        return self.worker_id
