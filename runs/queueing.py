"""Why a queued task waits, in SQL: the annotation and the filter tasks.queueing asks
for, registered in RunsConfig.ready. One CASE per task row, over the rules the worker's
claim follows (runs.worker.claim, runs.turns): a run starts when neither its task nor
its group has an IN_PROGRESS run and a worker picks up its job; a disabled robot's run
fails at once.
No query of its own: the subqueries run inside the list's (or the detail's) query, and
only for the rows that wait."""

from collections.abc import Collection
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


def with_queue_reason(
    queryset: QuerySet[Task], slotted: bool = False, fresh_after: Any = None
) -> QuerySet[Task]:
    if fresh_after is None:
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


# The reasons that hold only while some worker is alive (the CASE's order above).
NEED_A_WORKER = frozenset({QueueReason.TASK_BUSY, QueueReason.GROUP_BUSY, QueueReason.QUEUED})


def with_reason_in(queryset: QuerySet[Task], reasons: Collection[str]) -> QuerySet[Task]:
    """The tasks of `queryset` that wait for one of `reasons`. What the tasks of these
    reasons have in common is said beside the CASE, for the planner. Whether a worker is
    alive is the same for every task: asked for reasons that need one (or for `no_worker`
    alone), the filter says so on its own, a condition on no row that PostgreSQL
    evaluates once for the whole query (a one-time filter), and the list reads no task
    when the answer is none. On the 1M-task bench database, `queueReason=no_worker` with
    a worker alive computed the reason of each of a workspace's 15,758 waiting tasks (270
    ms). A disabled robot's tasks are those of a robot that is disabled."""
    fresh_after = presence.fresh_after()
    alive = Exists(presence.stamped_after(fresh_after))
    asked = set(reasons)
    if asked <= NEED_A_WORKER:
        queryset = queryset.filter(alive)
    elif asked == {QueueReason.NO_WORKER}:
        queryset = queryset.filter(~alive)
    elif asked == {QueueReason.ROBOT_DISABLED}:
        queryset = queryset.filter(robot__enabled=False)
    annotated = with_queue_reason(queryset, fresh_after=fresh_after)
    return annotated.filter(**{"queue_reason__in": reasons})


def slot_values() -> dict[str, Any]:
    return {FRESH_AFTER: presence.fresh_after()}
