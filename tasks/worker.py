"""The worker side of a run: claim, heartbeat, run the robot's runner, record the end.

`execute_run(run_id)` is what the `run_task` job calls. It claims the run with a
conditional UPDATE from PENDING (at most one execution, whatever the number of
workers), heartbeats from a thread (which also notices halt requests and runs taken
away by the reaper), streams the runner's log lines and assistant messages, and sets the
outcome. `reap_stale_runs` ends runs whose worker went silent.
"""

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from realtime.events import publish, task_channel
from tasks.execution import (
    lock_task,
    publish_workflow_status,
    queue_run,
    runs_in_turn,
    start_next,
)
from tasks.logs import LogWriter, mask_secrets, notify, robot_secrets
from tasks.models import LogStream, Task, TaskRun, WorkflowStatus
from tasks.runners import (
    AssistantMessage,
    HistoryMessage,
    LogLine,
    Outcome,
    RunContext,
    RunnerConfigError,
    RunnerEvent,
    runner_for,
)

logger = logging.getLogger(__name__)

REQUEUED = "Requeued after no heartbeat for {seconds} s (the worker stopped)."
REAPED = "No heartbeat for {seconds} s: the worker running it stopped."


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(run_id: str, worker_id: str) -> TaskRun | None:
    """PENDING -> IN_PROGRESS, only when neither the task nor its group runs anything."""
    run = TaskRun.objects.filter(pk=run_id).only("task_id", "status").first()
    if run is None or run.status != WorkflowStatus.PENDING:
        return None
    with transaction.atomic():
        task = lock_task(run.task_id)
        if task.deleted:  # deleted while queued: it never starts
            TaskRun.objects.filter(pk=run_id, status=WorkflowStatus.PENDING).update(
                status=WorkflowStatus.HALTED, finished_at=timezone.now(), error="Task deleted."
            )
            return None
        if runs_in_turn(task.pk, task.group_id).filter(status=WorkflowStatus.IN_PROGRESS).exists():
            return None  # started by start_next when the running one ends
        now = timezone.now()
        claimed = TaskRun.objects.filter(pk=run_id, status=WorkflowStatus.PENDING).update(
            status=WorkflowStatus.IN_PROGRESS, started_at=now, heartbeat_at=now, worker_id=worker_id
        )
        if not claimed:
            return None
        Task.objects.filter(pk=task.pk).update(
            workflow_status=WorkflowStatus.IN_PROGRESS,
            workflow_started_at=now,
            workflow_completed_at=None,
            updated_at=now,
        )
        if task.workflow_status != WorkflowStatus.IN_PROGRESS:
            publish_workflow_status(task.pk)
    return TaskRun.objects.select_related("task__robot", "task__repository").get(pk=run_id)


class Heartbeat(threading.Thread):
    """Stamps heartbeat_at every RUN_HEARTBEAT_SECONDS; sets `stop` on a halt request or
    when the run is no longer IN_PROGRESS (reaped, superseded)."""

    def __init__(self, run_id: Any, stop: threading.Event):
        super().__init__(daemon=True, name=f"heartbeat-{run_id}")
        self.run_id = run_id
        self.stop = stop
        self.done = threading.Event()
        self.halted = False
        self.lost = False

    def run(self) -> None:
        interval = float(settings.RUN_HEARTBEAT_SECONDS)
        poll = min(1.0, interval)
        last_beat = 0.0
        try:
            while not self.done.wait(poll):
                last_beat += poll
                with contextlib.suppress(Exception):  # a DB hiccup must not end the run
                    self.tick(beat=last_beat >= interval)
                    if last_beat >= interval:
                        last_beat = 0.0
        finally:
            connection.close()

    def tick(self, *, beat: bool) -> None:
        live = TaskRun.objects.filter(pk=self.run_id, status=WorkflowStatus.IN_PROGRESS)
        if (beat and not live.update(heartbeat_at=timezone.now())) or not live.exists():
            self.lost = True
        elif live.filter(halt_requested=True).exists():
            self.halted = True
        if self.lost or self.halted:
            self.stop.set()

    def finish(self) -> None:
        self.done.set()
        self.join(timeout=10)


def context_for(run: TaskRun) -> RunContext:
    from chat.models import ChatMessage  # tasks <- chat: the run reads its task's thread

    task = run.task
    history = [
        HistoryMessage(
            m.role,
            m.message,
            [{"type": a.type, "content": a.content} for a in m.artifacts.all()],
        )
        for m in ChatMessage.objects.filter(task=task).prefetch_related("artifacts")
    ]
    return RunContext(
        task_id=str(task.pk),
        run_number=run.number,
        title=task.title,
        prompt=task.prompt or task.description or task.title,
        history=history,
        config=dict(task.robot.config) if task.robot else {},
        checkout_path=task.repository.checkout_path if task.repository else "",
    )


def post_assistant_message(
    task_id: Any, text: str, artifacts: list[dict[str, object]], secrets: list[str]
) -> object:
    """Stores the robot's answer as an ASSISTANT ChatMessage with its artifacts, keeps the
    task's message_count and awaiting_input, and sends `new-message`.
    (At merge: the same job as chat.services.post_message for an ASSISTANT message.)"""
    from chat.models import Artifact, ArtifactType, ChatMessage, ChatRole

    kept = [a for a in artifacts if isinstance(a, dict) and a.get("type") in ArtifactType.values]
    with transaction.atomic():
        message = ChatMessage.objects.create(
            task_id=task_id, role=ChatRole.ASSISTANT, message=mask_secrets(text, secrets)
        )
        Artifact.objects.bulk_create(
            Artifact(
                message=message,
                type=str(a["type"]),
                content=a.get("content") or {},
                icon=str(a["icon"]) if a.get("icon") else None,
                position=i,
            )
            for i, a in enumerate(kept)
        )
        Task.objects.filter(pk=task_id).update(
            message_count=F("message_count") + 1,
            awaiting_input=any(a["type"] == ArtifactType.FORM for a in kept),
            updated_at=timezone.now(),
        )
        publish(task_channel(task_id), "new-message", str(message.pk))
    return message


def drain(
    events: Iterator[RunnerEvent], writer: LogWriter, run: TaskRun, secrets: list[str]
) -> Outcome | None:
    """Writes the runner's lines and messages as they come; returns its outcome."""
    for event in events:
        if event is None:
            writer.flush_if_due()
        elif isinstance(event, LogLine):
            writer.write(event.stream, event.line)
        elif isinstance(event, AssistantMessage):
            writer.flush()
            post_assistant_message(run.task_id, event.text, event.artifacts, secrets)
        elif isinstance(event, Outcome):
            return event
    return None


def execute_run(run_id: str, worker_id: str | None = None) -> str | None:
    """Runs one TaskRun to its end; returns its final status, or None if not claimed."""
    run = claim(run_id, worker_id or this_worker())
    if run is None:
        return None
    robot = run.task.robot
    config = dict(robot.config) if robot else {}
    secrets = robot_secrets(config)
    context = context_for(run)
    writer = LogWriter(run, secrets)
    heartbeat = Heartbeat(run.pk, context.stop)
    heartbeat.start()
    outcome: Outcome | None = None
    try:
        if robot is not None and not robot.enabled:
            raise RunnerConfigError(f"The robot {robot.name!r} is disabled.")
        events = runner_for(robot.runner if robot else "scripted")(context)
        with contextlib.closing(events):  # the runner cleans up (kills its process) on close
            outcome = drain(events, writer, run, secrets)
        outcome = outcome or Outcome(WorkflowStatus.COMPLETED)
    except RunnerConfigError as error:
        outcome = Outcome(WorkflowStatus.FAILED, error=str(error))
    except Exception as error:
        logger.exception("Run %s failed in the worker", run_id)
        outcome = Outcome(WorkflowStatus.ERROR, error=f"{type(error).__name__}: {error}")
    finally:
        heartbeat.finish()
    if heartbeat.halted and outcome.status != WorkflowStatus.ERROR:
        outcome = replace(outcome, status=WorkflowStatus.HALTED, error="Halted.", waiting=False)
    try:
        writer.write(LogStream.SYSTEM, f"run {run.number} ended: {outcome.status}")
        writer.flush()
    except Exception:
        logger.exception("Could not write the last log lines of run %s", run_id)
    return finish_run(run, outcome, secrets)


def finish_run(run: TaskRun, outcome: Outcome, secrets: list[str]) -> str | None:
    """Records the outcome (only if the run is still IN_PROGRESS: the reaper may have taken
    it), sets the task's workflow status, sends events, starts what waits behind it."""
    now = timezone.now()
    with transaction.atomic():
        task = lock_task(run.task_id)
        ended = TaskRun.objects.filter(pk=run.pk, status=WorkflowStatus.IN_PROGRESS).update(
            status=outcome.status,
            finished_at=now,
            exit_code=outcome.exit_code,
            error=mask_secrets(outcome.error, secrets),
        )
        if not ended:
            return None
        next_turn = task.runs.filter(status=WorkflowStatus.PENDING).exists()
        changes: dict[str, object] = {
            "updated_at": now,
            "error": mask_secrets(outcome.error, secrets),
        }
        if outcome.output_text:
            changes["output_text"] = mask_secrets(outcome.output_text, secrets)
        if next_turn:
            changes["workflow_status"] = WorkflowStatus.PENDING
        elif outcome.waiting:
            changes["workflow_status"] = WorkflowStatus.IN_PROGRESS  # waits for the FORM reply
        else:
            changes.update(workflow_status=outcome.status, workflow_completed_at=now)
        Task.objects.filter(pk=task.pk).update(**changes)
        if changes.get("workflow_status") != task.workflow_status:
            publish_workflow_status(task.pk)
        status = str(changes.get("workflow_status"))
        group_id = task.group_id
        transaction.on_commit(lambda: start_next(task.pk, group_id))
        transaction.on_commit(
            lambda: notify(task.pk, {"type": "log.status", "workflowStatus": status, "ended": True})
        )
    return outcome.status


def reap_stale_runs() -> int:
    """Ends runs with no heartbeat for STALE_RUN_SECONDS: ERROR with the reason, or
    requeued once when RETRY_STALE_RUNS. Also restarts PENDING runs that nothing started."""
    seconds = settings.STALE_RUN_SECONDS
    cutoff = timezone.now() - timedelta(seconds=seconds)
    stale = TaskRun.objects.filter(status=WorkflowStatus.IN_PROGRESS).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    reaped = 0
    for run in stale.select_related("task"):
        close_old_connections()
        reaped += _reap(run, seconds)
    for run in TaskRun.objects.filter(status=WorkflowStatus.PENDING, created_at__lt=cutoff):
        start_next(run.task_id, Task.objects.get(pk=run.task_id).group_id)
    return reaped


def _reap(run: TaskRun, seconds: int) -> int:
    previous = TaskRun.objects.filter(task_id=run.task_id, number=run.number - 1).first()
    requeue = settings.RETRY_STALE_RUNS and not (
        previous is not None and previous.error.startswith(REQUEUED.split("{")[0])
    )
    reason = (REQUEUED if requeue else REAPED).format(seconds=seconds)
    with transaction.atomic():
        task = lock_task(run.task_id)
        if not TaskRun.objects.filter(pk=run.pk, status=WorkflowStatus.IN_PROGRESS).update(
            status=WorkflowStatus.ERROR, finished_at=timezone.now(), error=reason
        ):
            return 0
        if requeue:
            queue_run(task)
        else:
            next_turn = task.runs.filter(status=WorkflowStatus.PENDING).exists()
            status = WorkflowStatus.PENDING if next_turn else WorkflowStatus.ERROR
            Task.objects.filter(pk=task.pk).update(
                workflow_status=status,
                workflow_completed_at=None if next_turn else timezone.now(),
                error=reason,
                updated_at=timezone.now(),
            )
            publish_workflow_status(task.pk)
            group_id = task.group_id
            transaction.on_commit(lambda: start_next(task.pk, group_id))
        transaction.on_commit(
            lambda: notify(
                run.task_id, {"type": "log.status", "workflowStatus": "ERROR", "ended": True}
            )
        )
    return 1
