from typing import Any

from django.core.management.base import BaseCommand

from ops.housekeeping import run_housekeeping


class Command(BaseCommand):
    help = "Applies retention (RETENTION_*_DAYS) and checks for stuck tasks, once."

    def handle(self, *args: Any, **options: Any) -> None:
        result = run_housekeeping()
        self.stdout.write(f"deleted: {result['deleted']}; open alerts: {result['alerts']}")
