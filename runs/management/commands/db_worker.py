"""`manage.py db_worker`: django-tasks-db's worker, kept alive through a database outage.

Upstream's worker re-raises every database error but a locked SQLite file, so a
PostgreSQL restart ended the process (under `make run`, honcho then stopped the server
too). This one logs the outage, drops its connections and tries again every
WORKER_DATABASE_RETRY_SECONDS until the database answers. It shadows upstream's command:
`runs` comes before `django_tasks_db` in INSTALLED_APPS.
"""

import logging
import os
import time
from typing import Any

from django.db import InterfaceError, OperationalError, connections
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV, run_with_reloader
from django_tasks_db.management.commands import db_worker as upstream

logger = logging.getLogger("taskdesk.worker")
RETRY_SECONDS = 2.0


class ResilientWorker(upstream.Worker):
    def run(self) -> None:
        while True:
            try:
                super().run()
                return
            except (OperationalError, InterfaceError) as error:
                if not self.running:
                    return
                logger.warning(
                    "Worker %s: the database is unreachable (%s); trying again in %s s",
                    self.worker_id,
                    type(error).__name__,
                    RETRY_SECONDS,
                )
                connections.close_all()
                time.sleep(RETRY_SECONDS)


class Command(upstream.Command):
    help = upstream.Command.help

    def handle(self, **options: Any) -> None:  # type: ignore[override]
        self.configure_logging(options["verbosity"])
        queue_names = options["queue_name"].split(",")
        excluded = options["exclude_queues"].split(",") if options["exclude_queues"] else []
        if excluded and "*" not in queue_names:
            raise upstream.CommandError("--exclude-queues can only be used with --queue-name=*")
        reload = options["reload"] and not options["batch"]
        worker = ResilientWorker(
            queue_names=queue_names,
            interval=options["interval"],
            batch=options["batch"],
            backend_name=options["backend_name"],
            startup_delay=options["startup_delay"],
            max_tasks=options["max_tasks"],
            worker_id=options["worker_id"],
            excluded_queue_names=excluded,
        )
        if reload:
            if os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
                worker.configure_signals()  # only the reloader's child
            run_with_reloader(worker.run)
        else:
            worker.configure_signals()
            worker.run()
