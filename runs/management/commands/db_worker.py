"""`manage.py db_worker`: the worker of django-tasks-db's job table, as runs.worker_pool
runs it: batched claims, WORKER_CONCURRENCY threads, woken by NOTIFY on PostgreSQL,
graceful on SIGTERM, alive through a database outage. It shadows upstream's command
(`runs` comes before `django_tasks_db` in INSTALLED_APPS) and keeps its options;
`--interval` defaults to WORKER_POLL_SECONDS, `--concurrency` to WORKER_CONCURRENCY.
"""

import os
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV, run_with_reloader
from django_tasks_db.management.commands import db_worker as upstream

from config import memory
from runs.worker_pool import PoolWorker


class Command(upstream.Command):
    help = upstream.Command.help

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(interval=None)
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="Jobs run at once, on threads (default: WORKER_CONCURRENCY)",
        )

    def handle(self, **options: Any) -> None:  # type: ignore[override]
        self.configure_logging(options["verbosity"])
        queue_names = options["queue_name"].split(",")
        excluded = options["exclude_queues"].split(",") if options["exclude_queues"] else []
        if excluded and "*" not in queue_names:
            raise upstream.CommandError("--exclude-queues can only be used with --queue-name=*")
        interval = options["interval"]
        worker = PoolWorker(
            worker_id=options["worker_id"],
            backend_name=options["backend_name"],
            queue_names=queue_names,
            excluded_queue_names=excluded,
            interval=settings.WORKER_POLL_SECONDS if interval is None else interval,
            concurrency=options["concurrency"] or settings.WORKER_CONCURRENCY,
            grace_seconds=settings.WORKER_GRACE_SECONDS,
            batch=options["batch"],
            max_tasks=options["max_tasks"],
        )
        if options["reload"] and not options["batch"]:
            if os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
                worker.configure_signals()  # only the reloader's child
            run_with_reloader(worker.run)
        else:
            worker.configure_signals()
            memory.freeze_loaded()  # full collections skip what is loaded (config.memory)
            worker.run()
