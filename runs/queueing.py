"""Why a queued task waits, in SQL: the annotation and the filter tasks.queueing asks
for, registered in RunsConfig.ready. One CASE per task row, over the rules the worker's
claim follows (runs.worker.claim, runs.turns): a run starts when neither its task nor
its group has an IN_PROGRESS run and a worker picks up its job; a disabled robot's run
fails at once.
No query of its own: the subqueries run inside the list's (or the detail's) query, and
only for the rows that wait. The tasks and groups that have a run going on are a set
that the query reads once (hashed), from the partial index of live runs: it holds no
more runs than the workers have slots, where the backlog grows with the data. A
subquery per waiting task cost `queueReason=queued` 472 ms a request on the 1M-task
bench database (8,870 matches), 77 ms as a set."""

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

from config.compiled import Literal, Slot
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
    busy = busy_tasks()
    reason = Case(
        When(~waits, then=V(None)),
        When(robot__enabled=False, then=V(QueueReason.ROBOT_DISABLED)),
        When(~Exists(presence.stamped_after(fresh_after)), then=V(QueueReason.NO_WORKER)),
        When(pk__in=busy, then=V(QueueReason.TASK_BUSY)),
        When(group_id__in=busy_groups(busy), then=V(QueueReason.GROUP_BUSY)),
        default=V(QueueReason.QUEUED),
        output_field=CharField(),
    )
    return queryset.annotate(queue_reason=reason).annotate(
        queue_blocked_by=Case(
            When(queue_reason=QueueReason.GROUP_BUSY, then=Subquery(holder())),
            default=V(None),
        )
    )


def busy_tasks() -> QuerySet[TaskRun, Any]:
    """The ids of the tasks with an IN_PROGRESS run: no more than the workers' slots
    (WORKER_CONCURRENCY each), whatever the size of the data, read from the partial index
    of live runs. The status is written into the SQL (config.compiled.Literal), as that
    index's condition names it: a prepared statement's generic plan can then use it."""
    return TaskRun.objects.filter(status=Literal(W.IN_PROGRESS, CharField())).values("task_id")


def busy_groups(busy: QuerySet[TaskRun, Any]) -> QuerySet[Task, Any]:
    return Task.objects.filter(pk__in=busy, group_id__isnull=False).values("group_id")


def in_busy_turns() -> QuerySet[TaskRun, Any]:
    """The ids of the tasks whose turn has a run going on: the busy tasks and the tasks of
    their groups (a few hundred at most)."""
    busy = busy_tasks()
    return busy.union(Task.objects.filter(group_id__in=busy_groups(busy)).values("pk"))


def holder() -> QuerySet[Task, Any]:
    """The task of the row's group whose run holds the group: through the group's tasks
    (its index), then their runs (see runs.turns.runs_in_turn)."""
    return (
        Task.objects.filter(group_id=OuterRef("group_id"), runs__status=W.IN_PROGRESS)
        .exclude(pk=OuterRef("pk"))
        .order_by()
        .values("pk")[:1]
    )


# The reasons that hold only while some worker is alive (the CASE's order above).
NEED_A_WORKER = frozenset({QueueReason.TASK_BUSY, QueueReason.GROUP_BUSY, QueueReason.QUEUED})
# The reasons that name a running run: their tasks are few, whatever the backlog.
BUSY = frozenset({QueueReason.TASK_BUSY, QueueReason.GROUP_BUSY})


def with_reason_in(queryset: QuerySet[Task], reasons: Collection[str]) -> QuerySet[Task]:
    """The tasks of `queryset` that wait for one of `reasons`. What the tasks of these
    reasons have in common is said beside the CASE, for the planner. Whether a worker is
    alive is the same for every task: asked for reasons that need one (or for `no_worker`
    alone), the filter says so on its own, a condition on no row that PostgreSQL
    evaluates once for the whole query (a one-time filter), and the list reads no task
    when the answer is none. On the 1M-task bench database, `queueReason=no_worker` with
    a worker alive computed the reason of each of a workspace's 15,758 waiting tasks (270
    ms). A disabled robot's tasks are those of a robot that is disabled. A busy task, or
    one blocked by a busy group, is among the few tasks whose turn has a run going on:
    `group_busy` read those instead of the 15,758 (244 -> 16 ms a request)."""
    fresh_after = presence.fresh_after()
    alive = Exists(presence.stamped_after(fresh_after))
    asked = set(reasons)
    if asked <= NEED_A_WORKER:
        queryset = queryset.filter(alive)
        if asked <= BUSY:
            queryset = queryset.filter(pk__in=in_busy_turns())
    elif asked == {QueueReason.NO_WORKER}:
        queryset = queryset.filter(~alive)
    elif asked == {QueueReason.ROBOT_DISABLED}:
        queryset = queryset.filter(robot__enabled=False)
    annotated = with_queue_reason(queryset, fresh_after=fresh_after)
    return annotated.filter(**{"queue_reason__in": reasons})


def slot_values() -> dict[str, Any]:
    return {FRESH_AFTER: presence.fresh_after()}
