"""`manage.py load_runner_profiles [FILE]`: runner profiles from the operator's JSON file
(FILE, else RUNNER_PROFILES_FILE), created or updated by name.

The file: `[{"name": "codex", "runner": "command", "argv": [...], "variables": {...},
"secrets": {"NAME": "value"}, "network": false, "workspaces": ["slug", ...] or "*",
"cpu_seconds": ..., ...}]`. Secrets are sealed as they are stored (tasks.vault); a
profile without `secrets` in the file keeps the ones it has.
"""

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Workspace
from tasks import vault
from tasks.models import RunnerProfile
from tasks.profiles import PROFILE_FIELDS, bad_variable_names


class Command(BaseCommand):
    help = "Creates or updates runner profiles from a JSON file (RUNNER_PROFILES_FILE)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", nargs="?", default=settings.RUNNER_PROFILES_FILE)

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if not options["file"]:
            raise CommandError("Give a file, or set RUNNER_PROFILES_FILE.")
        try:
            entries = json.loads(Path(options["file"]).read_text())
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot read {options['file']}: {error}") from None
        for entry in entries:
            profile = self.load(entry)
            self.stdout.write(f"{profile.name}: {profile.runner}")

    def load(self, entry: dict[str, Any]) -> RunnerProfile:
        if entry.get("runner") not in ("command", "openai"):
            raise CommandError(f"{entry.get('name')}: runner must be command or openai.")
        bad = bad_variable_names(entry.get("variables", {}))
        if bad:
            raise CommandError(f"{entry['name']}: not variable names: {', '.join(bad)}.")
        profile = RunnerProfile.objects.filter(name=entry["name"]).first() or RunnerProfile(
            name=entry["name"]
        )
        for field in PROFILE_FIELDS:
            if field in entry:
                setattr(profile, field, entry[field])
        if "secrets" in entry:
            vault.set_secrets(profile, {str(k): str(v) for k, v in entry["secrets"].items()})
        workspaces = entry.get("workspaces", [])
        profile.all_workspaces = workspaces == "*"
        profile.full_clean(exclude=["secrets_sealed"])
        profile.save()
        if workspaces != "*":
            found = list(Workspace.objects.filter(slug__in=workspaces))
            if len(found) != len(set(workspaces)):
                raise CommandError(f"{profile.name}: unknown workspace in {workspaces}.")
            profile.workspaces.set(found)
        return profile
