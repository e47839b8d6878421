"""Task log lines: batched writes with gap-free `seq` per task, per-run caps, masked secrets.

A writer reserves a block of seq numbers with one `UPDATE ... SET log_seq = log_seq + n
RETURNING log_seq` and inserts the lines in the same transaction (on PostgreSQL in the
same statement, a data-modifying WITH: a batch is one round trip): the task row stays
locked until commit, so concurrent writers number on without gaps or duplicates, and a
line is never visible before the lines numbered under it. After commit the lines go to
the task's Channels group, where the SSE streams pick them up.
"""

import logging
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from uuid import UUID

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, QuerySet, UUIDField
from django.utils import timezone

from config import fused, metrics
from config.apitext import as_text
from config.compiled import CompiledQuery, Slot
from realtime.dispatch import soon
from realtime.fanout import send_to_group_sync
from runs.models import LogStream, TaskLog, TaskRun
from tasks import locks
from tasks.events import iso
from tasks.models import Task
from tasks.redaction import redact

logger = logging.getLogger(__name__)


def log_group(task_id: UUID | str) -> str:
    """The Channels group the SSE streams of a task listen on."""
    return f"tasklogs.{task_id}"


def line_payload(log: TaskLog, run_number: int) -> dict[str, Any]:
    """A log line as the API, the SSE stream and the channel layer carry it."""
    return {
        "seq": log.seq,
        "runNumber": run_number,
        "stream": log.stream,
        "line": log.line,
        "createdAt": iso(log.created_at),
    }


def reserve_seq(task_id: UUID, count: int) -> int:
    """Takes `count` seq numbers of the task; returns the first. Call inside a transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Task._meta.db_table} SET log_seq = log_seq + %s WHERE id = %s "
            "RETURNING log_seq",
            [count, task_id.hex if connection.vendor == "sqlite" else task_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise Task.DoesNotExist(task_id)
    return int(row[0]) - count + 1


def append_lines(
    run: TaskRun,
    lines: list[tuple[str, str]],
    *,
    announce: bool = True,
    locked: Task | None = None,
) -> list[TaskLog]:
    """Writes lines `(stream, text)` of a run with the next seq numbers of its task and,
    on commit, sends them to the task's SSE streams (unless not `announce`: the run's
    end sends its last lines with its status, one message). `locked`: the run's task as
    the caller's transaction locked it (a claim, an end), whose `log_seq` numbers the
    lines (`insert_after`)."""
    if not lines:
        return []
    with transaction.atomic(savepoint=False):  # its own, or the run's end's
        rows = insert_numbered(run, lines) if locked is None else insert_after(run, lines, locked)
        if announce:
            payload = [line_payload(row, run.number) for row in rows]
            message = {"type": "log.lines", "lines": payload}
            # A claim's line goes out on the worker's sender thread, as its events do.
            transaction.on_commit(lambda: soon(lambda: notify(run.task_id, message)))
    metrics.log_lines_written.inc(len(rows))
    return rows


def notify(task_id: UUID | str, message: dict[str, Any]) -> None:
    """Sends a message to the task's SSE streams; a layer that is down never fails a run."""
    if get_channel_layer() is None:
        return
    try:
        send_to_group_sync(log_group(task_id), message)
    except Exception:
        logger.warning("Could not reach the channel layer for task %s", task_id, exc_info=True)


def insert_numbered(run: TaskRun, lines: list[tuple[str, str]]) -> list[TaskLog]:
    """Inserts the lines under the next seq numbers of the run's task."""
    if connection.vendor != "postgresql":
        first = reserve_seq(run.task_id, len(lines))
        return TaskLog.objects.bulk_create(
            TaskLog(task_id=run.task_id, run=run, seq=first + i, stream=stream, line=text)
            for i, (stream, text) in enumerate(lines)
        )
    now = timezone.now()
    streams, texts = [stream for stream, _ in lines], [text for _, text in lines]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH reserved AS (UPDATE {Task._meta.db_table} SET log_seq = log_seq + %s "
            "WHERE id = %s RETURNING log_seq - %s AS base) "
            f"INSERT INTO {TaskLog._meta.db_table} "
            "(task_id, run_id, seq, stream, line, created_at) "
            "SELECT %s, %s, reserved.base + l.n, l.stream, l.line, %s FROM reserved, "
            "UNNEST(%s::text[], %s::text[]) WITH ORDINALITY AS l(stream, line, n) "
            "RETURNING id, seq",
            [len(lines), run.task_id, len(lines), run.task_id, run.pk, now, streams, texts],
        )
        numbered = sorted(cursor.fetchall(), key=lambda row: row[1])
    if not numbered:
        raise Task.DoesNotExist(run.task_id)
    return [
        TaskLog(
            id=pk, task_id=run.task_id, run=run, seq=seq, stream=stream, line=text, created_at=now
        )
        for (pk, seq), (stream, text) in zip(numbered, lines, strict=True)
    ]


def insert_after(run: TaskRun, lines: list[tuple[str, str]], task: Task) -> list[TaskLog]:
    """Inserts the lines under the numbers after the locked task's `log_seq`, and moves it
    on: in a `fused` block (config.fused), with the block's other changes of the task's
    row, one UPDATE, and on PostgreSQL the lines' INSERT in the block's statement."""
    now = timezone.now()
    first = task.log_seq + 1
    task.log_seq += len(lines)
    locks.update_locked(task, {"log_seq": task.log_seq})
    rows = [
        TaskLog(task_id=run.task_id, run=run, seq=seq, stream=stream, line=text, created_at=now)
        for seq, (stream, text) in enumerate(lines, start=first)
    ]
    if connection.vendor != "postgresql":
        return TaskLog.objects.bulk_create(rows)
    fused.write(
        f"INSERT INTO {TaskLog._meta.db_table} (task_id, run_id, seq, stream, line, created_at) "
        "SELECT %s, %s, %s + l.n - 1, l.stream, l.line, %s "
        "FROM UNNEST(%s::text[], %s::text[]) WITH ORDINALITY AS l(stream, line, n)",
        [
            run.task_id,
            run.pk,
            first,
            now,
            [stream for stream, _ in lines],
            [text for _, text in lines],
        ],
    )
    return rows


class LogWriter:
    """Buffers a run's log lines and writes them in batches, within the run's caps."""

    def __init__(
        self,
        run: TaskRun,
        secrets: Iterable[str] = (),
        *,
        batch_lines: int = 100,
        batch_seconds: float = 0.5,
    ):
        self.run = run
        self.secrets = list(secrets)
        self.batch_lines = batch_lines
        self.batch_seconds = batch_seconds
        self.max_lines: int = settings.TASK_LOG_MAX_LINES
        self.max_bytes: int = settings.TASK_LOG_MAX_BYTES
        self.lines_kept = 0
        self.bytes_kept = 0
        self.truncated = False
        self.buffer: list[tuple[str, str]] = []
        self.last_flush = time.monotonic()

    def write(self, stream: str, line: str, *, hold: bool = False) -> None:
        """Buffers a line; writes the batch when it is full or due, unless `hold` (the
        run's last line: written in the end's transaction)."""
        if self.truncated:
            metrics.log_lines_truncated.inc()
            return
        text = redact(line.rstrip("\r\n"), self.secrets)
        size = len(text.encode())
        if self.lines_kept + 1 > self.max_lines or self.bytes_kept + size > self.max_bytes:
            self.truncated = True
            metrics.log_lines_truncated.inc()
            self.buffer.append(
                (
                    LogStream.SYSTEM,
                    f"[log truncated: this run passed its limit of {self.max_lines} lines "
                    f"or {self.max_bytes} bytes; later lines are not kept]",
                )
            )
            self.flush()
            return
        self.lines_kept += 1
        self.bytes_kept += size
        self.buffer.append((stream if stream in LogStream.values else LogStream.STDOUT, text))
        if not hold and (
            len(self.buffer) >= self.batch_lines
            or time.monotonic() - self.last_flush >= self.batch_seconds
        ):
            self.flush()

    def flush_if_due(self) -> None:
        if self.buffer and time.monotonic() - self.last_flush >= self.batch_seconds:
            self.flush()

    def flush(self, *, announce: bool = True, locked: Task | None = None) -> list[TaskLog]:
        lines, self.buffer = self.buffer, []
        self.last_flush = time.monotonic()
        return append_lines(self.run, lines, announce=announce, locked=locked)


def log_rows(
    task_id: UUID,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = 200,
    newest: bool = False,
) -> list[dict[str, Any]]:
    """Lines of a task in seq order: the first `limit` after `after`, or (newest=True) the
    last `limit` before `before`."""
    values: dict[str, Any] = {"task": task_id}
    if after is not None:
        values["after"] = after
    if before is not None:
        values["before"] = before
    picked = _log_page(after is not None, before is not None, newest, limit).tuples(**values)
    if newest:
        picked.reverse()
    return [
        {
            "seq": seq,
            "runNumber": number,
            "stream": stream,
            "line": line,
            "createdAt": at if type(at) is str else iso(at),  # written by PostgreSQL
        }
        for seq, stream, line, at, number in picked
    ]


@lru_cache(maxsize=64)
def _log_page(after: bool, before: bool, newest: bool, limit: int) -> CompiledQuery:
    """The query of `log_rows` for one shape and page size, compiled once (config.compiled):
    read by every logs page and every SSE stream's catch-up, it cost more Python to build
    than PostgreSQL took to answer. Clients ask for a few page sizes; a LIMIT is part of
    the SQL, so each size has its own. PostgreSQL writes the lines' times (config.apitext)."""

    def build() -> QuerySet[TaskLog]:
        rows = TaskLog.objects.filter(task_id=Slot("task", UUIDField()))
        if after:
            rows = rows.filter(seq__gt=Slot("after", BigIntegerField()))
        if before:
            rows = rows.filter(seq__lt=Slot("before", BigIntegerField()))
        order = "-seq" if newest else "seq"
        columns = ("seq", "stream", "line", "created_at", "run__number")
        page = as_text(rows.order_by(order).values_list(*columns), "created_at")
        return page[:limit]  # type: ignore[return-value]

    return CompiledQuery(build)


def logs_page(
    task_id: UUID, *, limit: int, before: int | None, after: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the logs endpoint and its `nextBefore` (null when nothing is older).
    The newest page reads one line more than it shows: that line says whether anything
    is older, without a query of its own."""
    if after is None:
        lines = log_rows(task_id, before=before, limit=limit + 1, newest=True)
        older = len(lines) > limit
        lines = lines[1:] if older else lines
    else:
        lines = log_rows(task_id, after=after, before=before, limit=limit)
        older = (
            bool(lines)
            and TaskLog.objects.filter(task_id=task_id, seq__lt=lines[0]["seq"]).exists()
        )
    return lines, (lines[0]["seq"] if older else None)


def clear_logs(task_id: UUID) -> int:
    """Deletes a task's lines; `log_seq` stays, so numbering (and stream resume) goes on."""
    deleted, _ = TaskLog.objects.filter(task_id=task_id).delete()
    return deleted


def stream_state(task_id: UUID) -> dict[str, Any]:
    """What an SSE stream reports about its task; `running`: a run is queued or running."""
    task = Task.objects.only("workflow_status", "log_seq").get(pk=task_id)
    running = TaskRun.objects.filter(task_id=task_id).active().exists()
    return {"workflowStatus": task.workflow_status, "running": running, "lastSeq": task.log_seq}
