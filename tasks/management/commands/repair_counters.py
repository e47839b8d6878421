"""`manage.py repair_counters [--check]`: recomputes the task counters and the daily
rollup (tasks.counters) from the tasks, and says how many rows were wrong. `--check`
changes nothing and exits 1 when any row is wrong. Rows written behind the services'
back (raw SQL, bench/generate.py, a restored dump) are counted by running it."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tasks import counters


class Command(BaseCommand):
    help = "Recompute the task counters and the daily volume rollup from the tasks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Only report; exit 1 if wrong.")

    def handle(self, *args: Any, check: bool = False, **options: Any) -> None:
        if check:
            wrong = counters.drift()
            if wrong:
                raise CommandError(f"{wrong} counter row(s) differ from the tasks.")
            self.stdout.write("The counters match the tasks.")
            return
        wrong = counters.rebuild()
        self.stdout.write(f"Counters rebuilt; {wrong} row(s) were wrong.")
