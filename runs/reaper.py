"""The stale-run reaper: a periodic job that ends runs whose worker went silent.

`reap_stale_runs_job` reschedules itself every REAPER_INTERVAL_SECONDS while runs are
queued or running, on backends that can defer (the database backend); the workers'
pulse (ops.pulse) makes sure one is scheduled while runs are queued or running
(`keep_reaper_scheduled`): the reaper is a job, so it needs a worker anyway, and a
message that queues a run no longer pays for the check. `manage.py reap_stale_runs`
runs it by hand or in a loop.
"""

from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Q
from django.tasks import task, task_backends
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from config import metrics
from runs.logs import notify
from runs.models import RunTrigger, TaskRun, W
from runs.turns import lock_task, new_run
from runs.worker import record_end, start_next
from tasks import workflow
from tasks.events import announce

REQUEUED = "Requeued after no heartbeat for {seconds} s (the worker stopped)."
REAPED = "No heartbeat for {seconds} s: the worker running it stopped."


@task()
def reap_stale_runs_job() -> int:
    reaped = reap_stale_runs()
    if runs_are_active():
        schedule_reaper()
    return reaped


def keep_reaper_scheduled() -> bool:
    """Schedules the reaper if runs are queued or running and none is scheduled."""
    return runs_are_active() and schedule_reaper()


def runs_are_active() -> bool:
    """Whether a run is queued or running, from the two partial indexes on those statuses
    (an OR: PostgreSQL matches `status IN (...)` to neither, and with no run active that
    scanned the whole table: every pulse of every worker)."""
    return TaskRun.objects.filter(Q(status=W.PENDING) | Q(status=W.IN_PROGRESS)).exists()


def schedule_reaper() -> bool:
    """Enqueues the reaper REAPER_INTERVAL_SECONDS from now unless one is already waiting."""
    backend = task_backends[reap_stale_runs_job.backend]
    if not backend.supports_defer:
        return False
    if (
        isinstance(backend, DatabaseBackend)
        and DBTaskResult.objects.filter(
            task_path=reap_stale_runs_job.module_path, status="READY", backend_name=backend.alias
        ).exists()
    ):
        return False
    run_after = timezone.now() + timedelta(seconds=settings.REAPER_INTERVAL_SECONDS)
    reap_stale_runs_job.using(run_after=run_after).enqueue()
    return True


def reap_stale_runs() -> int:
    """Ends runs with no heartbeat for STALE_RUN_SECONDS: ERROR with the reason, or
    requeued once when RETRY_STALE_RUNS. Also restarts PENDING runs that nothing started."""
    seconds = settings.STALE_RUN_SECONDS
    cutoff = timezone.now() - timedelta(seconds=seconds)
    stale = TaskRun.objects.filter(status=W.IN_PROGRESS).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    reaped = 0
    for run in stale.select_related("task"):
        close_old_connections()
        reaped += _reap(run, seconds)
    for task_id, group_id in TaskRun.objects.filter(
        status=W.PENDING, created_at__lt=cutoff
    ).values_list("task_id", "task__group_id"):
        start_next(task_id, group_id)
    return reaped


def _reap(run: TaskRun, seconds: int) -> int:
    previous = TaskRun.objects.filter(task_id=run.task_id, number=run.number - 1).first()
    requeue = settings.RETRY_STALE_RUNS and not (
        previous is not None and previous.error.startswith(REQUEUED.split("{")[0])
    )
    reason = (REQUEUED if requeue else REAPED).format(seconds=seconds)
    with transaction.atomic():
        task = lock_task(run.task_id)
        if not TaskRun.objects.filter(pk=run.pk, status=W.IN_PROGRESS).transition(
            W.ERROR, error=reason
        ):
            return 0
        metrics.runs_reaped.inc()
        record_end(run, task, W.ERROR)
        if requeue:
            new_run(task, trigger=RunTrigger.REQUEUE, retry_of=run)
        else:
            next_turn = task.runs.filter(status=W.PENDING).exists()
            if workflow.move(task, W.PENDING if next_turn else W.ERROR, error=reason):
                announce(task, "task-updated")
        group_id = task.group_id
        transaction.on_commit(lambda: start_next(task.pk, group_id))
        transaction.on_commit(
            lambda: notify(
                run.task_id, {"type": "log.status", "workflowStatus": "ERROR", "ended": True}
            )
        )
    return 1
