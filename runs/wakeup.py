"""Waking idle workers when a job is enqueued, instead of letting them find it by polling.

On PostgreSQL, enqueueing a job of the database backend also runs `NOTIFY taskdesk_jobs`
on the same connection. PostgreSQL delivers a notification only when its transaction
commits (and drops it on rollback), and folds identical ones of one transaction into
one: a commit that queues 2,000 runs wakes each listener once. Idle workers `LISTEN` on a
connection of their own (`Listener`) and claim at once; their poll
(WORKER_POLL_SECONDS) only catches what a lost connection missed.

SQLite has no channel between processes: its workers poll every WORKER_POLL_SECONDS
(0.05 s by default, one indexed read of the job table each time).
"""

import logging
import threading
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from django_tasks_db.backend import DatabaseBackend

logger = logging.getLogger("taskdesk.worker")
CHANNEL = "taskdesk_jobs"


def wakeup_enabled() -> bool:
    return bool(settings.WORKER_WAKEUP) and connection.vendor == "postgresql"


def on_task_enqueued(sender: Any, task_result: Any, **kwargs: Any) -> None:
    """Connected to django.tasks' `task_enqueued` (RunsConfig.ready)."""
    if not issubclass(sender, DatabaseBackend) or not wakeup_enabled():
        return
    if task_result.task.run_after is not None:
        return  # deferred (the reaper's next round): the poll finds it when it is due
    with connection.cursor() as cursor:
        cursor.execute(f"NOTIFY {CHANNEL}")


class Listener(threading.Thread):
    """LISTENs on its own autocommit connection; sets `wake` on each notification. A lost
    connection is opened again after a pause (the poll covers the gap)."""

    def __init__(self, wake: threading.Event, stopping: threading.Event):
        super().__init__(daemon=True, name="job-listener")
        self.wake = wake
        self.stopping = stopping
        self.listening = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.listen()
            except psycopg.Error as error:
                self.listening.clear()
                logger.warning("Job listener lost its connection (%s); retrying", error)
                self.stopping.wait(2.0)

    def listen(self) -> None:
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            self.wake.set()  # anything enqueued before LISTEN: look once
            while not self.stopping.is_set():
                for _ in conn.notifies(timeout=1.0, stop_after=1):
                    self.wake.set()
