"""The worker side of a run: the `run_task` job, and what it does: claim, heartbeat, run
the robot's runner, record the end, start what waits behind it.

`run_task(run_id)` is enqueued on commit of every new run (runs.services.queue_run).
`execute_run` claims the run with a conditional UPDATE from PENDING (at most one
execution, whatever the number of workers), heartbeats it with the process's other runs
from one thread (`LiveRuns`, which also notices halt requests and runs taken away by the
reaper), streams the runner's log lines and assistant messages, and sets the outcome; on
commit of the end, `start_next` enqueues the oldest PENDING run of the task or its group.
"""

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, QuerySet, UUIDField
from django.tasks import task, task_backends
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend

from chat.models import ArtifactType, ChatMessage
from chat.services import MAX_MESSAGE_BYTES, ArtifactInput, post_assistant_message
from config import metrics
from config.compiled import CompiledQuery, Slot
from config.dbpool import drop_broken_connection
from config.fused import fused
from config.logs import log_context
from realtime import dispatch
from realtime.events import committing, together
from runs.logs import LogWriter, append_lines, line_payload, notify
from runs.models import CompiledTransition, LogStream, TaskRun, W
from runs.robot_config import Resolved, resolve
from runs.runners import (
    AssistantMessage,
    HistoryMessage,
    LogLine,
    Outcome,
    RunContext,
    RunnerConfigError,
    RunnerEvent,
    runner_for,
)
from runs.signals import run_finished
from runs.turns import has_next_turn, lock_for_claim, lock_task, runs_in_turn
from tasks import workflow
from tasks.events import announce
from tasks.models import Task
from tasks.redaction import redact

logger = logging.getLogger(__name__)

REQUEUED = "Requeued after no heartbeat for {seconds} s (the worker stopped)."
REAPED = "No heartbeat for {seconds} s: the worker running it stopped."
WORKER_STOPPED = "requeued: worker stopped"
STARTED = "run {number} started on {worker}"


@dataclass
class Live:
    """A run this process executes: what stops its runner, and why it was stopped."""

    stop: threading.Event
    since: float = field(default_factory=time.monotonic)
    halted: bool = False  # a halt request
    lost: bool = False  # no longer IN_PROGRESS: the reaper took it
    requeue: bool = False  # its worker is stopping


class LiveRuns:
    """The runs this process executes, and the one thread that heartbeats them all: every
    half second one statement reads which of them (older than a second) have a halt
    request or are no longer IN_PROGRESS, and stops their runners; every
    RUN_HEARTBEAT_SECONDS one more stamps their heartbeat_at. A thread per run cost each
    run a thread, each run longer than a second a database connection of its own, and
    the database two statements a second per run. The thread ends when the process runs
    nothing (closing its connection) and starts again with the next run. A stopping
    worker stops them all to requeue them (runs.worker_pool)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: dict[str, Live] = {}
        self.beating = False

    def add(self, run_id: str, stop: threading.Event) -> Live:
        with self.lock:
            live = self.runs[run_id] = Live(stop)
            if not self.beating:
                self.beating = True
                threading.Thread(target=self.beat, daemon=True, name="heartbeats").start()
        return live

    def remove(self, run_id: str) -> None:
        with self.lock:
            del self.runs[run_id]

    def stop_all(self) -> int:
        with self.lock:
            for live in self.runs.values():
                live.requeue = True
                live.stop.set()
            return len(self.runs)

    def beat(self) -> None:
        interval = float(settings.RUN_HEARTBEAT_SECONDS)
        poll = min(1.0, interval)
        last_beat = time.monotonic()
        try:
            while True:
                time.sleep(poll / 2)  # a halt request is seen within half a second
                with self.lock:
                    if not self.runs:
                        self.beating = False
                        return
                stamp = time.monotonic() - last_beat >= interval
                with contextlib.suppress(Exception):  # a DB hiccup must not end a run
                    drop_broken_connection()
                    self.check(beat=stamp, older_than=poll)
                    if stamp:
                        last_beat = time.monotonic()
        finally:
            connection.close()

    def check(self, *, beat: bool, older_than: float = 0.0) -> None:
        """One round for the runs started at least `older_than` seconds ago (a run is first
        asked about a second after its claim, which stamped it): stamps them if `beat`,
        reads them, and stops those halted or taken away."""
        now = time.monotonic()
        with self.lock:
            asked = [run_id for run_id, live in self.runs.items() if now - live.since >= older_than]
        if not asked:
            return
        running = TaskRun.objects.filter(pk__in=asked, status=W.IN_PROGRESS)
        if beat:
            running.update(heartbeat_at=timezone.now())
        found = {str(pk): halt for pk, halt in running.values_list("pk", "halt_requested")}
        with self.lock:
            for run_id in asked:
                live = self.runs.get(run_id)
                if live is None:  # it ended meanwhile
                    continue
                if run_id not in found:
                    live.lost = True
                elif found[run_id]:
                    live.halted = True
                else:
                    continue
                live.stop.set()  # after the reason: the runner that stops for it sees it


live_runs = LiveRuns()


def requeue_live() -> int:
    """Stops every run of this process; each goes back to PENDING once its runner has
    stopped (execute_run). Returns how many were running."""
    return live_runs.stop_all()


@task()
def run_task(run_id: str) -> str | None:
    return execute_run(run_id)


def enqueue(run_id: Any) -> None:
    run_task.enqueue(str(run_id))


def enqueue_with_run(run_id: Any) -> None:
    """Queues the job of a run being added in the current transaction. In the database
    queue, its job row is written in that transaction: it commits with the run (no
    process can die between the two) and its NOTIFY wakes a worker at that very commit,
    before the commit's other hooks run. Other queues get the job after commit."""
    if isinstance(task_backends[run_task.backend], DatabaseBackend):
        enqueue(run_id)
    else:
        transaction.on_commit(lambda: enqueue(run_id))


def start_next(task_id: Any, group_id: Any) -> TaskRun | None:
    """Enqueues the oldest PENDING run of the task or of its group (call after commit)."""
    run = (
        runs_in_turn(task_id, group_id)
        .filter(status=W.PENDING, task__deleted=False)
        .order_by("created_at", "number")
        .first()
    )
    if run is not None:
        enqueue(run.pk)
    return run


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# The claim's first read, compiled once (config.compiled): built by the ORM each time, it
# cost 5% of a worker's Python time (py-spy), one read per run.
_CLAIMABLE = CompiledQuery(
    lambda: (
        TaskRun.objects.filter(pk=Slot("run", UUIDField()), status=W.PENDING)
        .order_by()
        .values_list("task_id", "task__group_id", "number", "created_at", "request_id")
    )
)


def _claimable_in_turn(grouped: bool) -> QuerySet[TaskRun]:
    """The PENDING run, if nothing of its turn (its task's runs, or its group's) runs."""
    turn = runs_in_turn(Slot("task", UUIDField()), Slot("group", UUIDField()) if grouped else None)
    pending = TaskRun.objects.filter(pk=Slot("run", UUIDField()), status=W.PENDING)
    return pending.filter(~Exists(turn.filter(status=W.IN_PROGRESS)))


# The claim's and the end's moves of the run, compiled once: Django's update cost 0.2-0.5
# ms of Python each.
_CLAIM = {
    grouped: CompiledTransition(partial(_claimable_in_turn, grouped)) for grouped in (False, True)
}
_END = CompiledTransition(
    lambda: TaskRun.objects.filter(pk=Slot("run", UUIDField()), status=W.IN_PROGRESS)
)


def claim(run_id: str, worker_id: str) -> TaskRun | None:
    """PENDING -> IN_PROGRESS, only when neither the task nor its group runs anything.
    One read finds the run and its task's group; under the group's and the task's locks
    (the task read with its robot and repository: all the run needs), one conditional
    UPDATE claims it if nothing of its turn runs; the run's first log line ("run N started
    on <worker>") commits with the claim."""
    found = _CLAIMABLE.tuples(run=run_id)
    if not found:
        return None
    ((task_id, group_id, number, created_at, request_id),) = found
    # The run starts while the claim's events go out (a worker's BackgroundSender).
    with dispatch.in_background(), committing():
        task = lock_for_claim(task_id, group_id)
        if task.deleted:  # deleted while queued: it never starts
            pending = TaskRun.objects.filter(pk=run_id, status=W.PENDING)
            pending.transition(W.HALTED, error="Task deleted.")
            return None
        now = timezone.now()
        started = {"started_at": now, "heartbeat_at": now, "worker_id": worker_id}
        claim_in_turn = _CLAIM[task.group_id is not None]
        if not claim_in_turn(W.IN_PROGRESS, started, run=run_id, task=task.pk, group=task.group_id):
            return None  # taken, or its turn runs: start_next starts it when that ends
        run = TaskRun(
            pk=uuid.UUID(str(run_id)),
            task=task,
            number=number,
            status=W.IN_PROGRESS,
            worker_id=worker_id,
            created_at=created_at,
            started_at=now,
            heartbeat_at=now,
            request_id=request_id,
        )
        metrics.runs_started.inc()
        metrics.run_queue_wait.observe(max((now - created_at).total_seconds(), 0))
        # The run's first line, at its start: a log view shows it was picked up before its
        # runner says anything (a model can take seconds to answer). The line, the task's
        # row and its counters: one statement (config.fused).
        started_line = STARTED.format(number=number, worker=worker_id)
        with fused(), together():
            append_lines(run, [(LogStream.SYSTEM, started_line)], locked=task)
            if workflow.move(task, W.IN_PROGRESS, now=now, workflow_started_at=now):
                announce(task, "task-updated")
    return run


# The task's thread with its artifacts, compiled once (config.compiled): one read per run.
_HISTORY = CompiledQuery(
    lambda: (
        ChatMessage.objects.filter(task_id=Slot("task", UUIDField()))
        .order_by("timestamp", "id", "artifacts__position", "artifacts__id")
        .values_list("id", "role", "message", "artifacts__type", "artifacts__content")
    )
)


def history_of(task_id: Any) -> list[HistoryMessage]:
    """The task's thread, oldest first, with its artifacts: rows of one query (a long
    thread is hundreds of messages; model instances cost several times their SQL)."""
    history: list[HistoryMessage] = []
    last = None
    for pk, role, text, kind, content in _HISTORY.tuples(task=task_id):
        if pk != last:
            history.append(HistoryMessage(role, text, []))
            last = pk
        if kind is not None:
            history[-1].artifacts.append({"type": kind, "content": content})
    return history


def context_for(run: TaskRun, resolved: Resolved) -> RunContext:
    task = run.task
    history = history_of(task.pk)
    return RunContext(
        task_id=str(task.pk),
        run_number=run.number,
        title=task.title,
        prompt=task.prompt or task.description or task.title,
        history=history,
        config=resolved.config,
        checkout_path=task.repository.checkout_path if task.repository else "",
        secrets=resolved.secrets,
        limits=resolved.limits,
        network=resolved.network,
        allowed_base_urls=resolved.allowed_base_urls,
    )


def post_answer(
    run: TaskRun,
    answer: AssistantMessage,
    secrets: list[str],
    *,
    locked: Task | None = None,
) -> ChatMessage:
    """The robot's answer, through the chat's one writer of messages: its text masked and
    cut to the message limit, artifacts of unknown types dropped. `locked`: the task, as
    the caller's transaction locked it (the run's end, whose fused block writes the
    answer's changes of the task with its own: one UPDATE)."""
    text = redact(answer.text, secrets)
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        text = text.encode()[: MAX_MESSAGE_BYTES - 64].decode(errors="ignore") + "\n[cut]"
    artifacts = [
        ArtifactInput(
            type=str(a["type"]),
            content=a.get("content") or {},
            icon=str(a["icon"]) if a.get("icon") else None,
        )
        for a in answer.artifacts
        if isinstance(a, dict) and a.get("type") in ArtifactType.values
    ]
    # Inside its caller's transaction (its own, or the run's end), which any error ends:
    # no savepoint of its own.
    return post_assistant_message(
        locked or run.task,
        text,
        artifacts=artifacts,
        savepoint=False,
        locked=locked,
    )


# The end of a runner's events (`next(events, END)`): None is an idle tick.
END: Any = object()


def drain(
    events: Iterator[RunnerEvent], writer: LogWriter, run: TaskRun, secrets: list[str]
) -> tuple[Outcome | None, AssistantMessage | None]:
    """Writes the runner's lines and messages as they come; returns its outcome and, when
    a message was its last word (its next event is the outcome), that message: the run's
    end writes it, in the end's commit. Every runner answers last, so a run is two
    commits, not three; a message followed by more work is written at once."""
    event = next(events, END)
    while event is not END:
        if isinstance(event, Outcome):
            return event, None
        if isinstance(event, AssistantMessage):
            try:
                following = next(events, END)
            except Exception:
                write_answer(run, event, writer, secrets)  # what it said before it failed
                raise
            if following is END or isinstance(following, Outcome):
                return (None if following is END else following), event
            write_answer(run, event, writer, secrets)
            event = following
            continue
        if event is None:
            writer.flush_if_due()
        elif isinstance(event, LogLine):
            writer.write(event.stream, event.line)
        event = next(events, END)
    return None, None


def write_answer(
    run: TaskRun, answer: AssistantMessage, writer: LogWriter, secrets: list[str]
) -> None:
    with transaction.atomic():  # the lines before it, and the answer: one commit
        writer.flush()
        post_answer(run, answer, secrets)


def execute_run(run_id: str, worker_id: str | None = None) -> str | None:
    """Runs one TaskRun to its end; returns its final status, or None if not claimed."""
    run = claim(run_id, worker_id or this_worker())
    if run is None:
        logger.debug("Run %s not claimed", run_id)
        return None
    # The run's records carry the id of the request that queued it (config.logs).
    workspace = str(run.task.workspace_id)
    with log_context(run.request_id or None, workspace=workspace):
        logger.info("Run %s picked up", run_id)
        return execute_claimed(run)


def execute_claimed(run: TaskRun) -> str | None:
    run_id = str(run.pk)
    robot = run.task.robot
    try:
        resolved = resolve(robot)
    except RunnerConfigError as error:  # the profile is gone or no longer allowed
        resolved = Resolved(config={})
        problem: RunnerConfigError | None = error
    else:
        problem = None
    secrets = resolved.masked()
    context = context_for(run, resolved)
    writer = LogWriter(run, secrets)
    live = live_runs.add(run_id, context.stop)
    outcome: Outcome | None = None
    answer: AssistantMessage | None = None
    try:
        if problem is not None:
            raise problem
        if robot is not None and not robot.enabled:
            raise RunnerConfigError(f"The robot {robot.name!r} is disabled.")
        events = runner_for(robot.runner if robot else "scripted")(context)
        with contextlib.closing(events):  # the runner cleans up (kills its process) on close
            outcome, answer = drain(events, writer, run, secrets)
        outcome = outcome or Outcome(W.COMPLETED)
    except RunnerConfigError as error:
        outcome = Outcome(W.FAILED, error=str(error))
    except Exception as error:
        logger.exception("Run %s failed in the worker", run_id)
        outcome = Outcome(W.ERROR, error=f"{type(error).__name__}: {error}")
    finally:
        live_runs.remove(run_id)
    if live.requeue and outcome.status == W.HALTED and not live.halted and not live.lost:
        return requeue_run(run, writer, answer, secrets)
    if live.halted and outcome.status != W.ERROR:
        outcome = replace(outcome, status=W.HALTED, error="Halted.", waiting=False)
    writer.write(LogStream.SYSTEM, f"run {run.number} ended: {outcome.status}", hold=True)
    return finish_run(run, outcome, secrets, writer=writer, answer=answer)


def requeue_run(
    run: TaskRun, writer: LogWriter, answer: AssistantMessage | None, secrets: list[str]
) -> str | None:
    """IN_PROGRESS -> PENDING for a run its stopping worker could not finish: it keeps its
    number, lines and what it said, says why, and its job is enqueued again on commit."""
    try:
        writer.write(LogStream.SYSTEM, f"run {run.number} {WORKER_STOPPED}")
        if answer is None:
            writer.flush()
        else:
            write_answer(run, answer, writer, secrets)
    except Exception:
        logger.exception("Could not write the last log lines of run %s", run.pk)
    with transaction.atomic():
        task = lock_task(run.task_id)
        if not TaskRun.objects.filter(pk=run.pk, status=W.IN_PROGRESS).transition(
            W.PENDING, error=WORKER_STOPPED, worker_id="", heartbeat_at=None, started_at=None
        ):
            return None
        if workflow.move(task, W.PENDING):
            announce(task, "task-updated")
        transaction.on_commit(lambda: enqueue(run.pk))
    logger.warning("Run %s %s", run.pk, WORKER_STOPPED)
    return W.PENDING


def record_end(run: TaskRun, task: Any, status: str) -> None:
    metrics.runs_finished.labels(status, metrics.workspace_label(task.workspace_id)).inc()
    if run.started_at is not None:
        elapsed = (timezone.now() - run.started_at).total_seconds()
        metrics.run_duration.labels(status).observe(max(elapsed, 0))
    logger.info("Run %s ended: %s", run.pk, status)


def finish_run(
    run: TaskRun,
    outcome: Outcome,
    secrets: list[str],
    *,
    writer: LogWriter | None = None,
    answer: AssistantMessage | None = None,
) -> str | None:
    """Records the outcome (only if the run is still IN_PROGRESS: the reaper may have taken
    it) with the run's last log lines and its answer, moves the task on, sends its events,
    and starts what waits behind it: one transaction. Lines that cannot be written never
    keep the run open: it ends without them. An answer that cannot be written ends it in
    ERROR (the lines before it go with it, as when an answer is written on its own)."""
    try:
        return end_run(run, outcome, secrets, writer, answer)
    except Exception as error:
        if answer is not None:
            logger.exception("Could not write the answer of run %s", run.pk)
            failed = Outcome(W.ERROR, error=f"{type(error).__name__}: {error}")
            if writer is not None:
                writer.write(LogStream.SYSTEM, f"run {run.number} ended: {W.ERROR}", hold=True)
            return finish_run(run, failed, secrets, writer=writer)
        if writer is None or not isinstance(error, DatabaseError):
            raise
        # Its flush took the lines out of the buffer before it failed: they are dropped.
        logger.exception("Could not write the last log lines of run %s", run.pk)
        return end_run(run, outcome, secrets, None, None)


def end_run(
    run: TaskRun,
    outcome: Outcome,
    secrets: list[str],
    writer: LogWriter | None,
    answer: AssistantMessage | None,
) -> str | None:
    # The end's events go to the server with its COMMIT; to a push server, with the
    # worker's sender if that is sending already (then marked sent with what it sends).
    # The last lines, the task's row and its counters: one statement (config.fused).
    with dispatch.in_background(if_busy=True), committing(), fused():
        task = lock_task(
            run.task_id, group_id=run.task.group_id, annotations={"next_turn": has_next_turn}
        )
        # The last lines go to the SSE streams with the end's status: one message.
        written = writer.flush(announce=False, locked=task) if writer is not None else []
        lines = [line_payload(line, run.number) for line in written]
        with together():  # the answer's events and the end's: one statement
            # The lines', the answer's and the end's changes of the task: one UPDATE.
            if answer is not None:
                post_answer(run, answer, secrets, locked=task)
            error = redact(outcome.error, secrets)
            ended = _END(
                outcome.status, {"exit_code": outcome.exit_code, "error": error}, run=run.pk
            )
            if not ended:  # the reaper took it: the answer stays, the task's status too
                if lines:
                    message = {"type": "log.lines", "lines": lines}
                    transaction.on_commit(lambda: notify(task.pk, message))
                return None
            record_end(run, task, outcome.status)
            changes: dict[str, Any] = {"error": error}
            if outcome.output_text:
                changes["output_text"] = redact(outcome.output_text, secrets)
            status: str
            next_turn = task.next_turn  # type: ignore[attr-defined]
            if next_turn:
                status = W.PENDING  # its next turn
            elif outcome.waiting:
                status = W.IN_PROGRESS  # waits for the FORM reply
            else:
                status = outcome.status
            if workflow.move(task, status, **changes):
                announce(task, "task-updated")
        run.status = outcome.status
        run_finished.send(sender=TaskRun, run=run, task=task)
        group_id = task.group_id
        if next_turn or group_id is not None:  # else nothing of its turn waits
            transaction.on_commit(lambda: start_next(task.pk, group_id))
        last_word = {"type": "log.status", "workflowStatus": status, "ended": True, "lines": lines}
        transaction.on_commit(lambda: notify(task.pk, last_word))
    return outcome.status
