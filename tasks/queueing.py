"""Why a queued task waits (`queueReason`, `queueBlockedBy`).

The words are the tasks app's (QueueReason, the API's vocabulary); the answer needs the
runs and the workers' presence, which are the runs app's, so runs registers the
annotation in RunsConfig.ready (runs.queueing). Tasks only asks: `with_queue_reason`
adds `queue_reason` and `queue_blocked_by` to a queryset of tasks, in its own SQL (no
query per row, none per page), so a list can also filter on it. Without the runs app
every task answers null.
"""

from collections.abc import Callable

from django.db.models import CharField, QuerySet, TextChoices, UUIDField, Value

from tasks.models import Task, WorkflowStatus

# A task that waits for a run is PENDING, or IN_PROGRESS with its next turn queued
# behind the running one: the reason is computed for these only.
WAITING_STATUSES = (WorkflowStatus.PENDING, WorkflowStatus.IN_PROGRESS)


class QueueReason(TextChoices):
    """Why a task that waits for a run (PENDING, or running with its next turn queued)
    has not started yet, the first that holds in this order."""

    ROBOT_DISABLED = "robot_disabled", "Its robot is disabled"
    NO_WORKER = "no_worker", "No worker heartbeat is fresh"
    TASK_BUSY = "task_busy", "Its previous turn is still running"
    GROUP_BUSY = "group_busy", "Another task of its group is running"
    QUEUED = "queued", "Waiting for a worker slot"


Annotation = Callable[[QuerySet[Task]], QuerySet[Task]]


def no_reason(queryset: QuerySet[Task]) -> QuerySet[Task]:
    return queryset.annotate(
        queue_reason=Value(None, output_field=CharField()),
        queue_blocked_by=Value(None, output_field=UUIDField()),
    )


_annotation: list[Annotation] = [no_reason]


def register(annotation: Annotation) -> None:
    _annotation[0] = annotation


def with_queue_reason(queryset: QuerySet[Task]) -> QuerySet[Task]:
    """`queue_reason` (a QueueReason or null) and `queue_blocked_by` (the task whose run
    holds the group, for group_busy) on each task; once per queryset."""
    if "queue_reason" in queryset.query.annotations:
        return queryset
    return _annotation[0](queryset)
