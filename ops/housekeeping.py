"""The periodic job of the workers: retention, then the alert check.

Every HOUSEKEEPING_INTERVAL_SECONDS each worker's pulse (ops.pulse) enqueues the
`housekeeping` job unless one is waiting already: it runs while any worker does, on one
of them. `manage.py housekeeping` runs it once (cron, or by hand).
"""

from typing import Any

from django.tasks import task, task_backends
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from ops.alerts import check_alerts
from ops.retention import apply_retention


def run_housekeeping() -> dict[str, Any]:
    return {"deleted": apply_retention(), "alerts": check_alerts()}


@task()
def housekeeping() -> dict[str, Any]:
    return run_housekeeping()


def schedule_housekeeping() -> bool:
    """Enqueues the job unless one waits already (a RUNNING one may be a killed worker's,
    which django-tasks-db never ends: not a reason to skip)."""
    backend = task_backends[housekeeping.backend]
    if (
        isinstance(backend, DatabaseBackend)
        and DBTaskResult.objects.filter(
            task_path=housekeeping.module_path,
            status="READY",
            backend_name=backend.alias,
        ).exists()
    ):
        return False
    housekeeping.enqueue()
    return True
