"""The end-to-end harness: a real daphne process (or two) on free ports, against a
database this module creates and migrates out of band, and the real pusher-js under
Node (js/listen.js) as the client.

Why out of band: the server is another process, so it cannot see the test's own
database (an in-memory SQLite, or a PostgreSQL transaction). For SQLite the e2e
database is a temp file; for PostgreSQL a dedicated database named after the test
database (`<name>_e2e`, dropped and created per session). The server needs it only
for users, tokens, memberships and tasks (channel auth); the test process publishes
from its own database through the `pusher` publisher over HTTP, as workers do.
"""

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
JS_DIR = Path(__file__).parent / "js"
ASGI_APP = "config.asgi:application"
WAIT = 60.0  # seconds before a wait gives up (a hang guard, not a timing assertion)

SEED = """
import json
from accounts.models import ApiToken, Membership, Role, User, Workspace
from tasks.models import Task
member = User.objects.create_user("member", "member@example.com", "pw")
outsider = User.objects.create_user("outsider", "outsider@example.com", "pw")
workspace = Workspace.objects.create(slug="acme", name="Acme", owner=member)
Membership.objects.create(workspace=workspace, user=member, role=Role.VIEWER)
Workspace.objects.create(slug="elsewhere", name="Elsewhere", owner=outsider)
writer = User.objects.create_user("writer", "writer@example.com", "pw")
Membership.objects.create(workspace=workspace, user=writer, role=Role.DEVELOPER)
task = Task.objects.create(workspace=workspace, title="Live task")
print(json.dumps({
    "member_token": ApiToken.issue(member, "e2e")[1],
    "outsider_token": ApiToken.issue(outsider, "e2e")[1],
    "writer_token": ApiToken.issue(writer, "e2e")[1],
    "task_id": str(task.id),
    "slug": workspace.slug,
}))
"""


def manage(database_url: str, *args: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=server_env(database_url, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def last_line(output: str) -> str:
    """`manage.py shell` may print a banner first; the result is the last line."""
    return output.strip().splitlines()[-1]


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """The product's own settings (not the test run's recording publisher)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": "",
            **extra,
        }
    )
    return env


def create_database(tmp_dir: Path, purpose: str = "e2e") -> str:
    """A fresh, migrated database for server processes (named after `purpose`, so that
    suites running side by side keep theirs apart); returns its URL."""
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{tmp_dir / f'{purpose}.sqlite3'}"
    else:
        base = urlsplit(settings.DATABASE_URL)
        name = f"{base.path.lstrip('/')}_{purpose}{os.environ.get('PYTEST_XDIST_WORKER', '')}"
        admin = urlunsplit(base._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')
        url = urlunsplit(base._replace(path=f"/{name}"))
    manage(url, "migrate", "--noinput")
    return url


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(database_url: str, log: Path, redis_url: str = "", **env: str) -> Server:
    """daphne on a free port, told its own port (PORT) so that its settings (SITE_URL,
    PUSHER_PORT, hence /api/auth/me's realtime config) describe it, as `make run` does;
    `env`: more of its settings."""
    for _ in range(3):  # a free port can be taken between the probe and the bind
        port = free_port()
        handle = log.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), ASGI_APP],
            cwd=ROOT,
            env=server_env(database_url, REDIS_URL=redis_url, PORT=str(port), **env),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and process.poll() is None:
            if b"Listening on TCP address" in log.read_bytes():
                return Server(port, process, log)
            time.sleep(0.05)
        process.kill()
        process.wait()
    raise AssertionError(f"daphne did not start:\n{log.read_text(errors='replace')}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Listener:
    """One node process running `clients` pusher-js connections."""

    process: subprocess.Popen[str]
    lines: "queue.Queue[dict[str, Any]]" = field(default_factory=queue.Queue)
    seen: list[dict[str, Any]] = field(default_factory=list)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], count: int = 1) -> list[Any]:
        """Waits until `count` lines match `predicate` (all lines are kept in `seen`)."""
        deadline = time.monotonic() + WAIT
        while sum(1 for line in self.seen if predicate(line)) < count:
            remaining = deadline - time.monotonic()
            try:
                self.seen.append(self.lines.get(timeout=max(remaining, 0.01)))
            except queue.Empty:
                raise AssertionError(
                    f"gave up waiting; last lines: {self.seen[-5:]}; node stderr: {self.stderr()}"
                ) from None
        return [line for line in self.seen if predicate(line)]

    def events(self) -> list[dict[str, Any]]:
        return [line for line in self.seen if line["type"] == "event"]

    def stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return "(running)"
        return self.process.stderr.read()

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def listen(
    server: Server,
    token: str,
    channels: list[str],
    clients: int = 1,
    batch: int = 0,
    *,
    catch_up: bool = False,
    states: bool = False,
) -> Listener:
    """`catch_up`: after every (re)subscription the client replays GET /api/events from
    the last seq it saw (`replayed` lines), as the console does; `states`: a `state`
    line for each connection state change."""
    node = shutil.which("node")
    assert node, "Node 20 is needed for the realtime end-to-end tests"
    config = {
        "server": server.url,
        "token": token,
        "channels": channels,
        "clients": clients,
        "batch": batch or clients,
        "catchUp": catch_up,
        "states": states,
    }
    process = subprocess.Popen(
        [node, "listen.js", json.dumps(config)],
        cwd=JS_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    listener = Listener(process)

    def pump(stream: Iterator[str]) -> None:
        for raw in stream:
            listener.lines.put(json.loads(raw))

    assert process.stdout is not None
    threading.Thread(target=pump, args=(process.stdout,), daemon=True).start()
    return listener
