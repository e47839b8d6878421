"""Why a queued task waits (`queueReason`, `queueBlockedBy`).

The words are the tasks app's (QueueReason, the API's vocabulary); the answer needs the
runs and the workers' presence, which are the runs app's, so runs registers the
annotation and the filter in RunsConfig.ready (runs.queueing). Tasks only asks:
`with_queue_reason` adds `queue_reason` and `queue_blocked_by` to a queryset of tasks,
in its own SQL (no query per row, none per page), and `with_reason_in` keeps the tasks
of some reasons (`?queueReason=`). Without the runs app every task answers null.
"""

from collections.abc import Callable, Collection
from typing import Any

from django.db.models import CharField, QuerySet, TextChoices, UUIDField, Value

from tasks.models import Task, WorkflowStatus

# A task that waits for a run is PENDING, or IN_PROGRESS with its next turn queued
# behind the running one: the reason is computed for these only.
WAITING_STATUSES = (WorkflowStatus.PENDING, WorkflowStatus.IN_PROGRESS)


class QueueReason(TextChoices):
    """Why a task that waits for a run (PENDING, or running with its next turn queued)
    has not started yet, the first that holds in this order."""

    # Labels as the console says them (its script, api.js QUEUE_REASONS, says the same).
    ROBOT_DISABLED = "robot_disabled", "robot disabled"  # its run would fail at once
    NO_WORKER = "no_worker", "no worker running"  # no fresh worker heartbeat
    TASK_BUSY = "task_busy", "previous turn running"  # its own run goes on
    GROUP_BUSY = "group_busy", "group busy"  # another task of its group runs
    QUEUED = "queued", "queued for a worker"  # waiting for a worker slot


# (queryset, slotted) -> the queryset with queue_reason and queue_blocked_by.
Annotation = Callable[[QuerySet[Task], bool], QuerySet[Task]]
# (queryset, reasons) -> its tasks that wait for one of these reasons, annotated.
ReasonIn = Callable[[QuerySet[Task], Collection[str]], QuerySet[Task]]


def no_reason(queryset: QuerySet[Task], slotted: bool = False) -> QuerySet[Task]:
    return queryset.annotate(
        queue_reason=Value(None, output_field=CharField()),
        queue_blocked_by=Value(None, output_field=UUIDField()),
    )


def no_slots() -> dict[str, Any]:
    return {}


def none_in(queryset: QuerySet[Task], reasons: Collection[str]) -> QuerySet[Task]:
    return no_reason(queryset).none()


_annotation: list[Annotation] = [no_reason]
_slot_values: list[Callable[[], dict[str, Any]]] = [no_slots]
_reason_in: list[ReasonIn] = [none_in]


def register(
    annotation: Annotation, slot_values: Callable[[], dict[str, Any]], reason_in: ReasonIn
) -> None:
    _annotation[0] = annotation
    _slot_values[0] = slot_values
    _reason_in[0] = reason_in


def with_queue_reason(queryset: QuerySet[Task], *, slotted: bool = False) -> QuerySet[Task]:
    """`queue_reason` (a QueueReason or null) and `queue_blocked_by` (the task whose run
    holds the group, for group_busy) on each task; once per queryset. `slotted`: for a
    query compiled once (config.compiled), what changes from run to run (the moment a
    worker's heartbeat must be younger than) is a Slot, whose value `slot_values()` gives."""
    if "queue_reason" in queryset.query.annotations:
        return queryset
    return _annotation[0](queryset, slotted)


def with_reason_in(queryset: QuerySet[Task], reasons: Collection[str]) -> QuerySet[Task]:
    """The tasks of `queryset` that wait for one of `reasons` (`?queueReason=`), with
    `queue_reason` and `queue_blocked_by`."""
    return _reason_in[0](queryset.filter(workflow_status__in=WAITING_STATUSES), reasons)


def slot_values() -> dict[str, Any]:
    """The values of the Slots of `with_queue_reason(..., slotted=True)`, now."""
    return _slot_values[0]()
