"""Why a queued task waits, in SQL: the annotation tasks.queueing asks for, registered in
RunsConfig.ready. One CASE per task row, over the rules the worker's claim follows
(runs.worker.claim, runs.turns): a run starts when neither its task nor its group has
an IN_PROGRESS run and a worker picks up its job; a disabled robot's run fails at once.
No query of its own: the subqueries run inside the list's (or the detail's) query, and
only for the rows that wait."""

from typing import Any

from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    When,
)
from django.db.models import Value as V

from config.compiled import Slot
from runs import presence
from runs.models import TaskRun, W
from tasks.models import Task
from tasks.queueing import QueueReason

FRESH_AFTER = "workers_fresh_after"


def with_queue_reason(queryset: QuerySet[Task], slotted: bool = False) -> QuerySet[Task]:
    fresh_after = Slot(FRESH_AFTER, DateTimeField()) if slotted else presence.fresh_after()
    own = TaskRun.objects.filter(task_id=OuterRef("pk"))
    waits = Q(workflow_status=W.PENDING) | Q(
        Exists(own.filter(status=W.PENDING)), workflow_status=W.IN_PROGRESS
    )
    # Through the group's tasks (its index), then their runs: see runs.turns.runs_in_turn.
    holder = (
        Task.objects.filter(group_id=OuterRef("group_id"), runs__status=W.IN_PROGRESS)
        .exclude(pk=OuterRef("pk"))
        .order_by()
        .values("pk")[:1]
    )
    group_held = Q(group_id__isnull=False) & Q(Exists(holder))
    reason = Case(
        When(~waits, then=V(None)),
        When(robot__enabled=False, then=V(QueueReason.ROBOT_DISABLED)),
        When(~Exists(presence.stamped_after(fresh_after)), then=V(QueueReason.NO_WORKER)),
        When(Exists(own.filter(status=W.IN_PROGRESS)), then=V(QueueReason.TASK_BUSY)),
        When(group_held, then=V(QueueReason.GROUP_BUSY)),
        default=V(QueueReason.QUEUED),
        output_field=CharField(),
    )
    return queryset.annotate(queue_reason=reason).annotate(
        queue_blocked_by=Case(
            When(queue_reason=QueueReason.GROUP_BUSY, then=Subquery(holder)),
            default=V(None),
        )
    )


def slot_values() -> dict[str, Any]:
    return {FRESH_AFTER: presence.fresh_after()}
