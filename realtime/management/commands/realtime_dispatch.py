import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from realtime.dispatch import dispatch_pending


class Command(BaseCommand):
    help = "Sends unsent realtime events from the outbox (in seq order per channel)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between passes.")

    def handle(self, *args: Any, once: bool, interval: float, **options: Any) -> None:
        while True:
            sent = dispatch_pending()
            if once:
                self.stdout.write(f"{sent} event(s) sent")
                return
            time.sleep(interval)
