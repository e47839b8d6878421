import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from runs.reaper import reap_stale_runs


class Command(BaseCommand):
    help = (
        "Ends runs whose heartbeat is older than STALE_RUN_SECONDS (ERROR, or requeued once "
        "with RETRY_STALE_RUNS). Workers also do this every REAPER_INTERVAL_SECONDS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Repeat every interval.")

    def handle(self, *args: Any, loop: bool = False, **options: Any) -> None:
        while True:
            reaped = reap_stale_runs()
            self.stdout.write(f"Reaped {reaped} stale run(s).")
            if not loop:
                return
            time.sleep(settings.REAPER_INTERVAL_SECONDS)
