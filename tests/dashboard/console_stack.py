"""The browser tests' stack: a daphne server and a `db_worker` as real processes, on a
database of their own (SQLite file or PostgreSQL `<test db>_console`), seeded through
`manage.py shell`, with the product's own settings (the real `pusher` publisher, aimed
at the server's built-in Pusher server). The server can be stopped and started again on
the same port: a dropped connection, as a browser meets it."""

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from tests.realtime import live
from tests.realtime.live import free_port, last_line, manage, server_env

ROOT = Path(settings.BASE_DIR)
WAIT = 60.0
DAPHNE = [sys.executable, "-m", "daphne", "-b", "127.0.0.1"]
WORKER = [sys.executable, "manage.py", "db_worker", "--interval", "0.1", "--no-reload"]
WORKER += ["--no-startup-delay"]

SEED = """
import json
from accounts.models import ApiToken, Membership, Role, User, Workspace
from chat.models import ArtifactType
from chat.services import ArtifactInput, post_assistant_message, post_message
from tasks import counters
from tasks.models import Priority, Repository, Robot, Task, TaskGroup, WorkflowStatus

def person(name, ws, role):
    user = User.objects.create_user(
        name, f"{name}@example.com", f"{name}-password-1", name=name.title()
    )
    if ws is not None:
        Membership.objects.create(workspace=ws, user=user, role=role)
    return user

owner = User.objects.create_user(
    "olive", "olive@example.com", "olive-password-1", name="Olive Owner"
)
acme = Workspace.objects.create(slug="acme", name="Acme", owner=owner)
Membership.objects.create(workspace=acme, user=owner, role=Role.OWNER)
viewer = person("vera", acme, Role.VIEWER)
outsider = User.objects.create_user("oscar", "oscar@example.com", "oscar-password-1")
elsewhere = Workspace.objects.create(slug="elsewhere", name="Elsewhere", owner=outsider)
Membership.objects.create(workspace=elsewhere, user=outsider, role=Role.OWNER)

web = Repository.objects.create(
    workspace=acme, name="web", repository_url="https://git.example.com/web.git"
)
api = Repository.objects.create(
    workspace=acme, name="api", repository_url="https://git.example.com/api.git"
)
echo = Robot.objects.create(workspace=acme, name="Echo robot", runner="scripted", config={})
slow_steps = []
for n in range(1, 41):
    slow_steps += [{"log": f"slow line {n}"}, {"sleep": 0.15}]
slow_steps.append({"message": "Slow work done."})
slow = Robot.objects.create(
    workspace=acme, name="Slow robot", runner="scripted", config={"steps": slow_steps}
)
group = TaskGroup.objects.create(
    workspace=acme, kind="issue", binding_key="#7", title="Checkout is slow", repository=web
)

def task(title, **extra):
    fields = {
        "workspace": acme, "created_by": owner, "repository": web, "robot": echo, "title": title
    }
    fields.update(extra)
    created = Task.objects.create(**fields)
    counters.created(created)  # counted as the writers count a new task
    return created

echo_task = task("Say hello to the echo robot", branch="feature/hello", group=group)
slow_task = task(
    "Slow build with many log lines", robot=slow, repository=api, priority=Priority.HIGH
)
failed = task("Flaky deploy that failed", workflow_status=WorkflowStatus.FAILED, group=group)
viewer_failed = task("Another failed migration", workflow_status=WorkflowStatus.FAILED)
form_task = task("Choose the release branch", workflow_status=WorkflowStatus.IN_PROGRESS)
post_message(task=form_task, message="Release it, please.", author=owner, ask_robot=False)
post_assistant_message(form_task, "Which branch should I release?", artifacts=[ArtifactInput(
    type=ArtifactType.FORM,
    content={"actionText": "Which branch should I release?", "options": [
        {"actionType": "button", "optionLabel": "main"},
        {"actionType": "button", "optionLabel": "develop"}]})])
post_message(task=echo_task, message="Show me the patch.", author=owner, ask_robot=False)
post_assistant_message(echo_task, "Here it is.", artifacts=[
    ArtifactInput(type=ArtifactType.DIFF, content={
        "filename": "app.py",
        "diff": "--- a/app.py\\n+++ b/app.py\\n@@ -1 +1 @@\\n-print('hi')\\n+print('hello')",
    }),
    ArtifactInput(
        type=ArtifactType.CODE, content={"language": "python", "content": "print('hello')"}
    ),
    ArtifactInput(type=ArtifactType.PULL_REQUEST, content={
        "url": "https://git.example.com/web/pull/3", "title": "Say hello", "status": "open",
        "number": 3,
    }),
])
for n in range(30):
    task(f"Filler task {n:02d}", workflow_status=WorkflowStatus.COMPLETED, priority=Priority.LOW)
task(
    "Elsewhere secret", workspace=elsewhere, repository=None, robot=None, created_by=outsider
)
print(json.dumps({
    "owner_token": ApiToken.issue(owner, "browser")[1],
    "echo_task": str(echo_task.id),
    "slow_task": str(slow_task.id),
    "failed_task": str(failed.id),
    "viewer_failed_task": str(viewer_failed.id),
    "form_task": str(form_task.id),
    "group": str(group.id), "workspace_id": str(acme.id),
    "echo_robot": str(echo.id), "slow_robot": str(slow.id),
}))
"""


def create_database(tmp_dir: Path) -> str:
    """A fresh, migrated database for the console's processes; returns its URL."""
    return live.create_database(tmp_dir, "console")


@dataclass
class Stack:
    database_url: str
    logs: Path
    port: int = field(default_factory=free_port)
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return server_env(
            self.database_url,
            REDIS_URL=os.environ.get("REDIS_URL", "") if not self.sqlite else "",
            PORT=str(self.port),
            REALTIME_PUBLISHER="pusher",
            RUN_HEARTBEAT_SECONDS="1",
        )

    @property
    def sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def seed(self) -> dict[str, Any]:
        output = manage(self.database_url, "shell", "-c", SEED, REALTIME_PUBLISHER="none")
        return dict(json.loads(last_line(output)))

    def shell(self, code: str) -> str:
        """Python run against the stack's database with its settings (as a worker would)."""
        return last_line(manage(self.database_url, "shell", "-c", code, **self.env()))

    def start_server(self) -> None:
        self.starts += 1
        log = self.logs / f"daphne{self.starts}.log"
        handle = log.open("wb")
        self.server = subprocess.Popen(
            [*DAPHNE, "-p", str(self.port), "config.asgi:application"],
            cwd=ROOT,
            env=self.env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + WAIT
        while b"Listening on TCP address" not in log.read_bytes():
            assert self.server.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.05)

    def stop_server(self) -> None:
        if self.server is not None:
            stop(self.server)
            self.server = None
        # The port is free again once nothing listens on it.
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)

    def start_worker(self) -> None:
        self.worker = subprocess.Popen(
            [*WORKER, "--worker-id", "console-browser"],
            cwd=ROOT,
            env=self.env(),
            stdout=(self.logs / "worker.log").open("wb"),
            stderr=subprocess.STDOUT,
        )

    def close(self) -> None:
        self.stop_server()
        if self.worker is not None:
            stop(self.worker)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
