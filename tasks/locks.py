"""A task read under its row lock, and what its transaction learns from that read.

Every writer of a task locks its row first (`lock`). The apps above tasks may ask for
columns computed with that read (`annotate_locked`, in their AppConfig.ready): the
integrations app asks whether the task's workspace has an enabled webhook endpoint, so
that the events of a transaction that locked its task need no look-up of their own when
nobody listens (integrations.outbound). The locked task is remembered until the
transaction ends (`locked`)."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db.models import UUIDField
from django.db.models.expressions import BaseExpression

from config import fused
from config.compiled import CompiledModelQuery, CompiledUpdate, Slot
from config.memo import forget, remembered, transaction_memo
from tasks.models import Task

LOCKED = "tasks.locked"
_annotations: dict[str, Callable[[], BaseExpression]] = {}
# The lock's read, compiled once per shape (what is read with the task): Django built and
# compiled it on every call, more Python time than PostgreSQL took to answer.
_queries: dict[tuple[tuple[str, ...], tuple[str, ...]], CompiledModelQuery] = {}


def annotate_locked(name: str, expression: Callable[[], BaseExpression]) -> None:
    """Reads `expression()` (of the task row) as `name` with every locked task. Call it in
    an AppConfig.ready: a lock's read is compiled at its first use, with the annotations
    known then."""
    _annotations[name] = expression


def lock(
    task_id: Any,
    related: Sequence[str] = ("workspace",),
    annotations: Mapping[str, Callable[[], BaseExpression]] | None = None,
) -> Task:
    """The task, read with `related` and the caller's `annotations` (name: a function
    building an expression of the task row, the same for every call with that name)
    under its row lock (inside a transaction)."""
    annotations = annotations or {}
    shape = (tuple(related), tuple(annotations))
    query = _queries.get(shape)
    if query is None:
        query = CompiledModelQuery(lambda: _build(related, annotations))
        query = _queries.setdefault(shape, query)
    task = query.get(pk=task_id)
    memo = transaction_memo(LOCKED)
    if memo is not None:
        memo[task.pk] = task
    return task


def _build(related: Sequence[str], annotations: Mapping[str, Callable[[], BaseExpression]]) -> Any:
    expressions = {**_annotations, **annotations}
    return (
        Task.objects.select_for_update(of=("self",))
        .select_related(*related)
        .annotate(**{name: expression() for name, expression in expressions.items()})
        .filter(pk=Slot("pk", UUIDField()))
    )


# The locked task's UPDATE, compiled once per set of fields (config.compiled).
_UPDATE = CompiledUpdate(lambda: Task.objects.filter(pk=Slot("pk", UUIDField())))


def update_locked(task: Task, fields: Mapping[str, Any]) -> None:
    """Writes `fields` to the row of a task the caller locked: at once or, in a
    `config.fused` block, with the block's other changes of the row, one UPDATE at its
    end (a chat message's counters and the move of the run it asks for)."""
    fused.update(_UPDATE, f"tasks.task:{task.pk}", fields, pk=task.pk)


def locked(task_id: Any) -> Task | None:
    """The task as this transaction locked it (with the annotations), if it did."""
    memo = remembered(LOCKED)
    return memo.get(task_id) if memo else None  # type: ignore[return-value]


def forget_locked() -> None:
    """What the locked tasks' annotations said may have changed in this transaction."""
    forget(LOCKED)
