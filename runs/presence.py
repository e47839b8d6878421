"""Which workers are alive: each worker process stamps its WorkerPresence row every
WORKER_HEARTBEAT_SECONDS (`beat`; today from ops.pulse's thread in every `db_worker`
process) and deletes it when it stops cleanly (`forget`). A worker is alive while its
stamp is younger than WORKER_PRESENCE_SECONDS (`alive`): /readyz, `workers_alive` and a
queued task's `no_worker` reason read the same rows."""

import os
import socket
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from runs.models import WorkerPresence


def beat(worker_id: str, *, started_at: datetime | None = None) -> None:
    """Stamps the worker's row (one UPDATE; an INSERT the first time)."""
    now = timezone.now()
    if not WorkerPresence.objects.filter(pk=worker_id).update(heartbeat_at=now):
        host, _, pid = worker_id.rpartition(":")
        WorkerPresence.objects.create(
            worker_id=worker_id,
            hostname=host or socket.gethostname(),
            pid=int(pid) if pid.isdigit() else os.getpid(),
            started_at=started_at or now,
            heartbeat_at=now,
        )


def forget(worker_id: str) -> None:
    WorkerPresence.objects.filter(pk=worker_id).delete()


def fresh_after(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=settings.WORKER_PRESENCE_SECONDS)


def alive(now: datetime | None = None) -> QuerySet[WorkerPresence]:
    """The workers whose heartbeat is fresh at `now` (default: now)."""
    return stamped_after(fresh_after(now))


def stamped_after(moment: Any) -> QuerySet[WorkerPresence]:
    """The workers stamped at or after `moment` (a datetime, or an expression of one)."""
    return WorkerPresence.objects.filter(heartbeat_at__gte=moment)
