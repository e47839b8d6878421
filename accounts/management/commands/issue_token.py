from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.services import issue_token


class Command(BaseCommand):
    help = "Issues an API token for USERNAME and prints only the token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")
        parser.add_argument("--expires-days", type=int, default=None)

    def handle(
        self, *args: Any, username: str, name: str, expires_days: int | None, **options: Any
    ) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1.")
        _, raw = issue_token(user=user, name=name, expires_days=expires_days)
        self.stdout.write(raw)
