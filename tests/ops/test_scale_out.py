"""The scale-out shape of deploy/ without containers: PostgreSQL, Redis, two daphne
servers, two workers and the outbox dispatcher, each a real process with the product's
settings. A client of server B sees what a request to server A and a worker did: the
Pusher events (through A's built-in server and the Redis channel layer) and an SSE log
line written by a worker; /readyz of both servers is 200."""

import json
import os
import queue
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings

from tests.ops.processes import Stack, get, manage, product_env, wait_until
from tests.realtime import live

pytestmark = pytest.mark.postgres_only

SEED = """
import json
from accounts.models import ApiToken, Membership, Role, User, Workspace
from tasks.models import Robot, Task
owner = User.objects.create_user("owner", "owner@example.com", "pw")
viewer = User.objects.create_user("viewer", "viewer@example.com", "pw")
workspace = Workspace.objects.create(slug="acme", name="Acme", owner=owner)
Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
Membership.objects.create(workspace=workspace, user=viewer, role=Role.VIEWER)
steps = [{"sleep": 3}, {"log": "hello from a worker"}, {"sleep": 1}, {"message": "done"}]
robot = Robot.objects.create(workspace=workspace, name="slow", config={"steps": steps})
task = Task.objects.create(workspace=workspace, title="Scaled", robot=robot)
print(json.dumps({
    "owner_token": ApiToken.issue(owner, "scale")[1],
    "viewer_token": ApiToken.issue(viewer, "scale")[1],
    "task_id": str(task.id),
}))
"""


def scale_database() -> str:
    base = urlsplit(settings.DATABASE_URL)
    name = f"{base.path.lstrip('/')}_scale"
    admin = urlunsplit(base._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(base._replace(path=f"/{name}"))


@pytest.fixture
def shape(tmp_path: Path) -> Iterator[tuple[Stack, dict[str, Any]]]:
    redis_url = os.environ.get("REDIS_URL", "")
    assert redis_url, "the scale-out shape needs Redis (REDIS_URL)"
    # As deploy/compose.yaml: every process publishes straight into the Redis layer.
    env = product_env(scale_database(), REDIS_URL=redis_url, REALTIME_PUBLISHER="layer")
    manage(env, "migrate", "--noinput")
    seeded = json.loads(live.last_line(manage(env, "shell", "-c", SEED)))
    stack = Stack(tmp_path, env)
    yield stack, seeded
    stack.stop()


def post(url: str, token: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def sse_events(url: str) -> "queue.Queue[tuple[str, Any]]":
    """Reads an SSE stream in a thread; (event, data) pairs arrive on the queue."""
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def read() -> None:
        with urllib.request.urlopen(url, timeout=60) as stream:
            event = ""
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    events.put((event, json.loads(line[6:])))

    threading.Thread(target=read, daemon=True).start()
    return events


def next_log_line(events: "queue.Queue[tuple[str, Any]]") -> tuple[str, list[str]]:
    """The first `log` event after `init`: lines the stream was sent, not its tail."""
    init_lines: list[str] = []
    while True:
        event, data = events.get(timeout=live.WAIT)
        if event == "init":
            init_lines = [line["line"] for line in data["logs"]]
        elif event == "log":
            return data["line"], init_lines


def test_a_client_of_one_server_sees_what_happened_on_the_other(shape):
    stack, seeded = shape
    server_a = stack.server("web-a")
    server_b = stack.server("web-b")
    # Workers and the dispatcher publish into Redis, which both servers' sockets read.
    for name in ("worker-1", "worker-2"):
        stack.spawn(
            name,
            [
                live.sys.executable,
                "manage.py",
                "db_worker",
                "--interval",
                "0.2",
                "--no-reload",
                "--no-startup-delay",
                "--worker-id",
                name,
            ],
        )
    stack.dispatcher()
    for url in (server_a, server_b):
        wait_until(lambda u=url: get(u + "/readyz")[0] == 200, f"{url}/readyz 200")

    task_id = seeded["task_id"]
    b_port = urlsplit(server_b).port
    listener = live.listen(
        live.Server(b_port, stack.procs["web-b"], stack.logs / "web-b.log"),  # type: ignore[arg-type]
        seeded["viewer_token"],
        [f"private-task-{task_id}", "private-workspace-acme"],
    )
    try:
        listener.wait_for(lambda line: line["type"] == "subscribed", count=2)
        # A request to server A asks the robot; a worker runs it.
        post(
            f"{server_a}/api/chat/message",
            seeded["owner_token"],
            {"taskId": task_id, "message": "Go"},
        )
        wait_until(
            lambda: (
                get(f"{server_b}/api/tasks/{task_id}", seeded["viewer_token"])[1]["data"][
                    "workflowStatus"
                ]
                == "IN_PROGRESS"
            ),
            "the run to start",
        )
        stream = sse_events(
            f"{server_b}/api/tasks/{task_id}/logs/stream?token={seeded['viewer_token']}"
        )
        line, tail = next_log_line(stream)
        assert line == "hello from a worker" and line not in tail

        statuses = lambda e: e["type"] == "event" and e["event"] == "workflow-status-update"  # noqa: E731
        seen = listener.wait_for(
            lambda e: statuses(e) and e["data"]["workflowStatus"] == "COMPLETED"
        )
        assert seen
        flow = [e["data"]["workflowStatus"] for e in listener.events() if statuses(e)]
        assert flow == ["PENDING", "IN_PROGRESS", "COMPLETED"]
        assert any(e["event"] == "new-message" for e in listener.events())
    finally:
        listener.close()
    for url in (server_a, server_b):
        status, body = get(url + "/readyz")
        assert status == 200, body
        assert body["checks"]["channelLayer"]["state"] == "ok"
        assert body["checks"]["workers"]["alive"] == 2
