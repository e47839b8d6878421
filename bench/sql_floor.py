"""The execution part's SQL floor: what a scripted run's own statements cost, with a client
that does nothing else.

One run executed in this process (`execute_run`) is recorded statement by statement: its
SQL, its parameters, its transactions and the rows each statement gave back. Then each run
of a count replays those statements through psycopg (bound on the server and prepared
once they repeat, as the workers' are), from 1, 2 or 4 processes, each with the run's and
the task's ids in place of the recorded ones, new ids for the rows the run creates (its
answer, the outbox's lease owner), and the outbox's event ids and seq numbers that its own
statements returned. No Django, no queue, no runner: the runs per second that no worker
can beat with this SQL on this machine, and what PostgreSQL spends on a run.

Where the recorded run leased an outbox channel that a replay finds held by another
process, the replay sends nothing on it (its statement is given NULL for what it did not
get), as a worker leaves the events to the lease's holder; the holder here does not send
them either, so the floor may do a little less than the workers do."""

import enum
import pickle
import re
import subprocess
import sys
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UUID_TEXT = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


class JsonText(str):
    """A jsonb parameter, as the text Django's adapter made of it."""


@dataclass
class Statement:
    sql: str
    params: Any
    many: bool
    returned: list[tuple[Any, ...]] | None  # None: the statement gives no rows


@dataclass
class Unit:
    """One transaction, or one statement in autocommit."""

    transaction: bool
    statements: list[Statement] = field(default_factory=list)


@dataclass
class Recording:
    run_id: uuid.UUID
    task_id: uuid.UUID
    units: list[Unit]
    fresh: set[uuid.UUID]  # ids the run made: new ones in each replay

    @property
    def statements(self) -> int:
        return sum(len(unit.statements) + 2 * unit.transaction for unit in self.units)


def record_run(run_id: Any, slot: int) -> Recording:
    """Executes the queued run `run_id` here, recording what its thread sends PostgreSQL.
    Its task counters are written to `slot`: each worker thread writes to a slot of its
    own (tasks.counters), and so does each replaying process, with a recording of its own;
    one recording for all would have them all wait on the same counter rows."""
    import psycopg
    from django.db import connection
    from psycopg.pq import TransactionStatus
    from psycopg.types.json import Jsonb

    from runs.models import TaskRun
    from runs.worker import execute_run

    task = TaskRun.objects.select_related("task").get(pk=run_id).task
    shared = {task.workspace_id, task.robot_id, task.repository_id, task.group_id}
    units: list[Unit] = []

    def plain(value: Any) -> Any:
        if isinstance(value, Jsonb):
            return JsonText(value.dumps(value.obj))
        if isinstance(value, enum.Enum):  # a model's choices: the plain value
            return value.value
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        raw = connection.connection
        begins = raw.info.transaction_status == TransactionStatus.IDLE
        result = execute(sql, params, many, context)
        cursor = context["cursor"].cursor
        try:
            rows = cursor.fetchall()
        except psycopg.ProgrammingError:  # nothing to read
            rows = None
        if rows:
            cursor.scroll(0, "absolute")  # the caller reads them as if we had not
        if begins or not connection.in_atomic_block:
            units.append(Unit(transaction=connection.in_atomic_block))
        units[-1].statements.append(Statement(sql, plain(params), many, rows))
        return result

    from tasks import counters

    had = getattr(counters._thread, "slot", None)
    counters._thread.slot = slot
    try:
        with connection.execute_wrapper(record):
            execute_run(str(run_id))
    finally:
        if had is None:
            del counters._thread.slot
        else:
            counters._thread.slot = had
    made = {found for unit in units for s in unit.statements for found in uuids_in(s.params)}
    return Recording(
        run_id=uuid.UUID(str(run_id)),
        task_id=task.pk,
        units=units,
        fresh=made - shared - {task.pk, uuid.UUID(str(run_id))},
    )


def uuids_in(value: Any) -> set[uuid.UUID]:
    if isinstance(value, uuid.UUID):
        return {value}
    if isinstance(value, str):
        return {uuid.UUID(text) for text in UUID_TEXT.findall(value)}
    if isinstance(value, list | tuple):
        return set().union(*(uuids_in(v) for v in value)) if value else set()
    return set()


def is_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class NotOurs(Exception):
    """The statement sends what the replay did not get back (another process's lease)."""


def substitute(
    value: Any, ids: dict[uuid.UUID, uuid.UUID], numbers: dict[int, int], returned: set[int]
) -> Any:
    """`value` with the replay's ids, and in arrays of integers the replay's own numbers for
    those the recording's statements returned: None for one it did not get back, NotOurs
    if it got none of them."""
    if isinstance(value, uuid.UUID):
        return ids.get(value, value)
    if isinstance(value, str):

        def swap(match: re.Match[str]) -> str:
            text = match.group(0)
            new = ids.get(uuid.UUID(text))
            if new is None:
                return text
            return str(new) if "-" in text else new.hex

        replaced = UUID_TEXT.sub(swap, value)
        return JsonText(replaced) if isinstance(value, JsonText) else replaced
    if isinstance(value, list) and value and all(is_number(v) for v in value):
        if not any(v in returned for v in value):
            return value
        mapped = [numbers.get(v) if v in returned else v for v in value]
        if all(v is None for v in mapped):
            raise NotOurs
        return mapped
    if isinstance(value, list | tuple):
        return [substitute(v, ids, numbers, returned) for v in value]
    return value


def replay(dsn: str, recording: Recording, pairs: list[tuple[str, str]]) -> None:
    """Replays the recorded run for each (run id, task id) of `pairs`."""
    import psycopg
    from psycopg.types.json import Jsonb

    returned = {
        v
        for unit in recording.units
        for s in unit.statements
        for row in s.returned or []
        for v in row
        if is_number(v)
    }

    def adapt(value: Any) -> Any:
        if isinstance(value, JsonText):
            return Jsonb(str(value), dumps=lambda text: text)
        if isinstance(value, list):
            return [adapt(v) for v in value]
        return value

    with psycopg.connect(dsn, autocommit=True) as conn:
        print("ready", flush=True)
        sys.stdin.readline()  # go
        for run_id, task_id in pairs:
            ids = {u: uuid.uuid4() for u in recording.fresh}
            ids[recording.run_id] = uuid.UUID(run_id)
            ids[recording.task_id] = uuid.UUID(task_id)
            numbers: dict[int, int] = {}
            for unit in recording.units:
                with conn.transaction() if unit.transaction else nullcontext():
                    for statement in unit.statements:
                        try:
                            params = adapt(substitute(statement.params, ids, numbers, returned))
                        except NotOurs:
                            continue  # a worker leaves those events to the lease's holder
                        with conn.cursor() as cursor:
                            if statement.many:
                                cursor.executemany(statement.sql, params)
                            else:
                                cursor.execute(statement.sql, params)
                            if statement.returned is None or cursor.description is None:
                                continue
                            rows = cursor.fetchall()
                        for before, now in zip(statement.returned, rows, strict=False):
                            for a, b in zip(before, now, strict=False):
                                if is_number(a) and is_number(b):
                                    numbers[a] = b
        print("done", flush=True)
        sys.stdin.readline()  # until the bench has read this process's CPU and its server's


def start(
    dsn: str,
    recordings: list[Recording],
    pairs: list[tuple[str, str]],
    processes: int,
    folder: Path,
) -> list[subprocess.Popen[str]]:
    """`processes` replaying processes, each with its share of `pairs` and a recording of
    its own, returned connected and waiting for `go`."""
    children = []
    for n in range(processes):
        job = folder / f"sql-floor-{n}.pickle"
        job.write_bytes(pickle.dumps((dsn, recordings[n], pairs[n::processes])))
        children.append(
            subprocess.Popen(
                [sys.executable, __file__, str(job)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            for each in children:
                each.kill()
            raise RuntimeError("a SQL floor process did not start")
    return children


def go(children: list[subprocess.Popen[str]]) -> None:
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()


def wait_done(children: list[subprocess.Popen[str]]) -> None:
    """Returns once every process has replayed its runs (they stay, so that their CPU time
    can still be read from /proc)."""
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "done":
            raise RuntimeError(f"a SQL floor process failed (exit code {child.wait()})")


def finish(children: list[subprocess.Popen[str]]) -> None:
    for child in children:
        assert child.stdin is not None
        child.stdin.close()
        if child.wait() != 0:
            raise RuntimeError(f"a SQL floor process failed (exit code {child.returncode})")


if __name__ == "__main__":
    import sql_floor  # the pickled recording's classes are that module's, not __main__'s

    sql_floor.replay(*pickle.loads(Path(sys.argv[1]).read_bytes()))
