"""Writes that nobody reads back, sent to PostgreSQL as one statement.

A run's claim and its end each write, under their task's lock, the run's log lines, the
task's row and the workspace's counters, and the end the run's answer: statements that
depend on nothing the others return (the lines' seq numbers come from the locked task,
the answer's id is made here). Inside `fused()`, `write(sql, params)` keeps such a
statement (an INSERT, UPDATE or DELETE with no RETURNING) instead of running it, and
`insert(obj)` keeps a new row, and `update(...)` adds its fields to the block's one
UPDATE of a row (a chat message's counters and its run's move of the task). The block's
end runs the kept ones as one statement, each but the last a data-modifying WITH of the
last (PostgreSQL runs those to completion whether or not the statement reads them).
`merged(key, factory)` gives a writer one object per block to gather its writes in,
written at the block's end as its `statements()`: the counters add up all of a block's
changes in one upsert. A block that ends inside a `carrying()` block hands its
statements to it: the transaction's events are written with them, in one statement
(realtime.events.together).

What a block may keep, since the statement applies them together, after everything the
block ran itself: writes that no later read of the block depends on, and that never
change one row twice (PostgreSQL applies only one of two changes a statement makes to a
row). A row that another row of the block references is checked at the commit (Django's
foreign keys are deferred on PostgreSQL). An exception drops what was kept (its
transaction is rolled back with it). SQLite has no data-modifying WITH: there the
block's end runs the kept statements one after the other, each row's changes still one
UPDATE. Outside a block `write`, `insert` and `update` run at once and `merged` gives
None: the writer writes as it goes.
"""

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from django.db import connection, transaction
from django.db.models import Model
from django.db.models.sql import InsertQuery

from config.compiled import CompiledUpdate

Statement = tuple[str, Sequence[Any]]


class Gathered(Protocol):
    def statements(self) -> list[Statement]: ...


class _Block:
    def __init__(self) -> None:
        self.writes: list[Statement] = []
        self.gathered: dict[str, Gathered] = {}


_local = threading.local()


@contextmanager
def fused() -> Iterator[None]:
    """Keeps the block's writes and runs them at its end (`execute`). Nested blocks join
    the outer one."""
    if getattr(_local, "block", None) is not None:
        yield
        return
    block = _local.block = _Block()
    try:
        yield
    finally:
        _local.block = None
    statements = block.writes + [s for g in block.gathered.values() for s in g.statements()]
    carrier: list[Statement] | None = getattr(_local, "carrier", None)
    if carrier is not None:
        carrier.extend(statements)
    elif statements:
        execute(*statements)


@contextmanager
def carrying() -> Iterator[list[Statement]]:
    """The statements of the `fused` blocks that end inside this block, handed to it
    instead of run: its caller sends them with a statement of its own (the transaction's
    events, realtime.events), or runs them (`execute`). Nested blocks join the outer one."""
    carrier: list[Statement] | None = getattr(_local, "carrier", None)
    if carrier is not None:
        yield carrier
        return
    carrier = _local.carrier = []
    try:
        yield carrier
    finally:
        _local.carrier = None


def write(sql: str, params: Sequence[Any]) -> None:
    """Runs the statement, or keeps it for the end of the `fused` block."""
    block: _Block | None = getattr(_local, "block", None)
    if block is None:
        execute((sql, params))
    else:
        block.writes.append((sql, params))


def insert(obj: Model) -> None:
    """`obj.save(force_insert=True)` for a new row that reads nothing back (its primary key
    is set before, as a UUID's is), or kept for the end of the `fused` block. No model
    signal is sent for a kept row: keep to models that nobody listens to."""
    block: _Block | None = getattr(_local, "block", None)
    if block is None:
        obj.save(force_insert=True)
        return
    query = InsertQuery(type(obj))
    query.insert_values([f for f in obj._meta.local_concrete_fields if not f.generated], [obj])
    ((sql, params),) = query.get_compiler(connection.alias).as_sql()
    block.writes.append((sql, params))
    obj._state.adding, obj._state.db = False, connection.alias


def update(compiled: CompiledUpdate, key: str, values: Mapping[str, Any], **slots: Any) -> None:
    """`compiled.update(values, **slots)` with its count unread, or, in a block, added to
    the block's other changes of the same row (`key`): one UPDATE at its end, a field's
    later value winning. The values are plain values, not expressions."""
    changes = merged(key, lambda: _Update(compiled, slots))
    if changes is None:
        compiled.update(values, **slots)
        return
    if any(hasattr(value, "resolve_expression") for value in values.values()):
        raise ValueError("A fused UPDATE sets plain values.")
    changes.values.update(values)


class _Update:
    def __init__(self, compiled: CompiledUpdate, slots: dict[str, Any]) -> None:
        self.compiled, self.slots = compiled, slots
        self.values: dict[str, Any] = {}

    def statements(self) -> list[Statement]:
        return [self.compiled.statement(self.values, **self.slots)] if self.values else []


def merged[G: Gathered](key: str, factory: Callable[[], G]) -> G | None:
    """The block's one `factory()` for `key`, written at its end; None outside a block."""
    block: _Block | None = getattr(_local, "block", None)
    if block is None:
        return None
    if key not in block.gathered:
        block.gathered[key] = factory()
    return block.gathered[key]  # type: ignore[return-value]


def execute(*statements: Statement) -> None:
    """The statements as one on PostgreSQL, `WITH w0 AS (first), w1 AS (second) last`
    (only the last may have a WITH of its own: PostgreSQL takes a data-modifying WITH at
    the top only); one after the other elsewhere."""
    if connection.vendor != "postgresql":
        with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
        return
    *withs, (last, params) = statements
    sql = last
    if withs:
        heads = ", ".join(f"w{i} AS ({s})" for i, (s, _) in enumerate(withs))
        sql = f"WITH {heads}, {last[5:]}" if last.startswith("WITH ") else f"WITH {heads} {last}"
        params = [p for _, ps in withs for p in ps] + list(params)
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(sql, params)
