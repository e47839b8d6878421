import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import ApiToken, Membership, Role, User, Workspace
from accounts.services import issue_token
from chat.demo import seed_conversations
from tasks.demo import seed_tasks

DEMO_USERNAME = "demo"
DEMO_TOKEN_NAME = "seed_demo"


class Command(BaseCommand):
    help = "Creates (idempotently) the demo owner and workspace, then prints URL, login and token."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("DEMO_PASSWORD", "taskdesk-demo")
        user, created = User.objects.get_or_create(
            username=DEMO_USERNAME,
            defaults={
                "name": "Demo Owner",
                "email": "demo@example.com",
                "is_staff": True,
                "is_superuser": True,
            },
        )
        if created:
            user.set_password(password)
            user.save()
        workspace, _ = Workspace.objects.get_or_create(
            slug="demo", defaults={"name": "Demo workspace", "owner": user}
        )
        Membership.objects.get_or_create(
            workspace=workspace, user=user, defaults={"role": Role.OWNER}
        )
        self.seed_workspace(workspace, user)

        # Only hashes are stored, so a fresh token replaces the previous demo token.
        for old in ApiToken.objects.active().filter(user=user, name=DEMO_TOKEN_NAME):
            old.revoke()
        _, raw = issue_token(user=user, name=DEMO_TOKEN_NAME)

        site = settings.SITE_URL
        shown_password = password if user.check_password(password) else "<changed since seeding>"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Taskdesk demo is ready.",
                    f"  Console:   {site}/  (login {DEMO_USERNAME} / {shown_password})",
                    f"  Admin:     {site}/admin/",
                    f"  API docs:  {site}/api/docs",
                    f"  API token: {raw}",
                    f"  Try:       curl -H 'Authorization: Bearer {raw}' {site}/api/auth/me",
                    "",
                ]
            )
        )

    def seed_workspace(self, workspace: Workspace, owner: User) -> None:
        """Repositories, robots, tasks and conversations (each app seeds its own)."""
        seed_tasks(workspace, owner)
        seed_conversations(workspace, owner)
