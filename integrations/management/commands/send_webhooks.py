"""Sends the outbound webhook deliveries that are due (first attempts a lost job never
made, and retries on job backends that cannot defer); `--loop` keeps at it."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from integrations.outbound import send_due


class Command(BaseCommand):
    help = "Send the outbound webhook deliveries that are due."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep sending, every --interval s.")
        parser.add_argument("--interval", type=float, default=10.0)

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            sent = send_due()
            self.stdout.write(f"attempted {sent} deliveries")
            if not options["loop"]:
                return
            time.sleep(options["interval"])
