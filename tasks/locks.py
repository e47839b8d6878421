"""A task read under its row lock, and what its transaction learns from that read.

Every writer of a task locks its row first (`lock`). The apps above tasks may ask for
columns computed with that read (`annotate_locked`, in their AppConfig.ready): the
integrations app asks whether the task's workspace has an enabled webhook endpoint, so
that the events of a transaction that locked its task need no look-up of their own when
nobody listens (integrations.outbound). The locked task is remembered until the
transaction ends (`locked`)."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db.models.expressions import BaseExpression

from config.memo import forget, remembered, transaction_memo
from tasks.models import Task

LOCKED = "tasks.locked"
_annotations: dict[str, Callable[[], BaseExpression]] = {}


def annotate_locked(name: str, expression: Callable[[], BaseExpression]) -> None:
    """Reads `expression()` (of the task row) as `name` with every locked task."""
    _annotations[name] = expression


def lock(
    task_id: Any,
    related: Sequence[str] = ("workspace",),
    annotations: Mapping[str, BaseExpression] | None = None,
) -> Task:
    """The task, read with `related` (and the caller's `annotations`, of the task row)
    under its row lock (inside a transaction)."""
    task = (
        Task.objects.select_for_update(of=("self",))
        .select_related(*related)
        .annotate(
            **{name: expression() for name, expression in _annotations.items()},
            **(annotations or {}),
        )
        .get(pk=task_id)
    )
    memo = transaction_memo(LOCKED)
    if memo is not None:
        memo[task.pk] = task
    return task


def locked(task_id: Any) -> Task | None:
    """The task as this transaction locked it (with the annotations), if it did."""
    memo = remembered(LOCKED)
    return memo.get(task_id) if memo else None  # type: ignore[return-value]


def forget_locked() -> None:
    """What the locked tasks' annotations said may have changed in this transaction."""
    forget(LOCKED)
