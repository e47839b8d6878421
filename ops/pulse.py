"""The worker's own heartbeat: a thread in every `db_worker` process stamps its presence
(runs.presence, its WorkerPresence row) every WORKER_HEARTBEAT_SECONDS (so /readyz and a
queued task's `no_worker` know a worker is alive even when the queue is idle), keeps the
stale-run reaper scheduled while runs are queued or running, and keeps the housekeeping
job scheduled.

Started by OpsConfig.ready in worker processes only (`manage.py db_worker`; with the
autoreloader, in its child). A worker that stops cleanly deletes its row; one that is
killed leaves it to go stale.
"""

import atexit
import contextlib
import logging
import os
import socket
import sys
import threading
import time

from django.apps import apps
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from ops.housekeeping import schedule_housekeeping
from runs import presence
from runs.reaper import keep_reaper_scheduled

logger = logging.getLogger(__name__)


def is_worker_process(argv: list[str]) -> bool:
    if argv[1:2] != ["db_worker"]:
        return False
    # The autoreloader's parent only restarts its child: the child is the worker.
    return "--no-reload" in argv or os.environ.get("RUN_MAIN") == "true"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Pulse(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True, name="worker-pulse")
        self.worker = worker_name()
        self.started_at = timezone.now()
        self.stopping = threading.Event()

    def run(self) -> None:
        # Started from OpsConfig.ready: the first query waits for the other apps' ready()
        # (Django warns about queries during app initialization).
        while not apps.ready and not self.stopping.wait(0.05):
            pass
        next_schedule = 0.0
        while not self.stopping.is_set():
            with contextlib.suppress(Exception):  # a database hiccup must not end the pulse
                close_old_connections()
                presence.beat(self.worker, started_at=self.started_at)
                keep_reaper_scheduled()
                if time.monotonic() >= next_schedule:
                    schedule_housekeeping()
                    next_schedule = time.monotonic() + settings.HOUSEKEEPING_INTERVAL_SECONDS
            self.stopping.wait(settings.WORKER_HEARTBEAT_SECONDS)
        connection.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
        with contextlib.suppress(Exception):
            presence.forget(self.worker)


def start_if_worker() -> Pulse | None:
    if not is_worker_process(sys.argv):
        return None
    pulse = Pulse()
    pulse.start()
    atexit.register(pulse.stop)
    logger.info("Worker %s: heartbeat every %s s", pulse.worker, settings.WORKER_HEARTBEAT_SECONDS)
    return pulse
