"""Background jobs (`django.tasks`): executing runs, and the periodic stale-run reaper.

`run_task` is enqueued on commit of every new run. `reap_stale_runs_job` reschedules
itself every REAPER_INTERVAL_SECONDS while runs are queued or running, on backends that
can defer (the database backend); each `run_task` makes sure one is scheduled.
"""

from datetime import timedelta

from django.conf import settings
from django.tasks import task, task_backends
from django.utils import timezone

from tasks.models import ACTIVE_WORKFLOW, TaskRun
from tasks.worker import execute_run, reap_stale_runs


@task()
def run_task(run_id: str) -> str | None:
    schedule_reaper()
    return execute_run(run_id)


@task()
def reap_stale_runs_job() -> int:
    reaped = reap_stale_runs()
    if TaskRun.objects.filter(status__in=ACTIVE_WORKFLOW).exists():
        schedule_reaper()
    return reaped


def schedule_reaper() -> bool:
    """Enqueues the reaper REAPER_INTERVAL_SECONDS from now unless one is already waiting."""
    backend = task_backends[reap_stale_runs_job.backend]
    if not backend.supports_defer:
        return False
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

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
