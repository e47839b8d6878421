"""Faults survived, with real processes on PostgreSQL (and a Redis of the test's own):
the database connection dropped in the middle of a request, the push server down for
30 s, Redis restarted under connected WebSocket clients. (A worker killed with SIGKILL
and two workers racing on 500 runs: tests/runs/test_processes.py.)

Each test starts its processes with the product's settings on a database of this
module (`<test database>_faults`); the shared PostgreSQL and Redis are never stopped:
the Redis that restarts is a private `redis-server` on a free port. No timing
assertions: waits only guard against hangs."""

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings

from tests.ops.processes import PrivateRedis, Stack, get, manage, product_env, wait_until
from tests.realtime import live

pytestmark = pytest.mark.postgres_only

OUTAGE_SECONDS = 30

SEED = """
import json
from accounts.models import ApiToken, Membership, Role, User, Workspace
from tasks.models import Task
owner = User.objects.create_user("owner", "owner@example.com", "pw")
viewer = User.objects.create_user("viewer", "viewer@example.com", "pw")
workspace = Workspace.objects.create(slug="acme", name="Acme", owner=owner)
Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
Membership.objects.create(workspace=workspace, user=viewer, role=Role.VIEWER)
tasks = [Task.objects.create(workspace=workspace, title=f"Task {i}") for i in range(3)]
print(json.dumps({
    "owner_token": ApiToken.issue(owner, "faults")[1],
    "viewer_token": ApiToken.issue(viewer, "faults")[1],
    "tasks": [str(task.id) for task in tasks],
}))
"""

RENAME = """
from accounts.models import User
from tasks.models import Task
from tasks.services import update_task
for title in {titles!r}:
    update_task(Task.objects.get(pk="{task_id}"), actor=User.objects.get(username="owner"),
                changes={{"title": title}})
"""


@pytest.fixture(scope="module")
def faults() -> dict[str, Any]:
    """A fresh, migrated, seeded database for this module's processes."""
    base = urlsplit(settings.DATABASE_URL)
    name = f"{base.path.lstrip('/')}_faults"
    admin = urlunsplit(base._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(base._replace(path=f"/{name}"))
    env = product_env(url)
    manage(env, "migrate", "--noinput")
    return {"url": url, **json.loads(live.last_line(manage(env, "shell", "-c", SEED)))}


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis.create(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def stack(faults: dict[str, Any], tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path, product_env(faults["url"]))
    yield stack
    stack.stop()


def rename(url: str, token: str, task_id: str, title: str) -> int:
    request = urllib.request.Request(
        f"{url}/api/tasks/{task_id}",
        data=json.dumps({"title": title}).encode(),
        method="PATCH",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.status)


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port
    return port


def listen_to(stack: Stack, name: str, url: str, token: str, channel: str, **options: Any):
    server = live.Server(port_of(url), stack.procs[name], stack.logs / f"{name}.log")  # type: ignore[arg-type]
    listener = live.listen(server, token, [channel], **options)
    listener.wait_for(lambda line: line["type"] == "subscribed")
    return listener


def titles(lines: list[dict[str, Any]], kind: str = "event") -> list[str]:
    return [
        line["data"]["newTitle"]
        for line in lines
        if line["type"] == kind and line["event"] == "task-title-update"
    ]


def outbox(database_url: str, channel: str) -> list[tuple[int, str, bool]]:
    """(seq, newTitle, sent) of the channel's title events, in seq order."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT seq, data->>'newTitle', sent_at IS NOT NULL FROM realtime_outboxevent "
            "WHERE channel = %s AND event = 'task-title-update' ORDER BY seq",
            [channel],
        ).fetchall()
    return [(int(seq), str(title), bool(sent)) for seq, title, sent in rows]


def test_a_database_connection_dropped_mid_request_fails_that_request_only(faults, stack):
    url = stack.server("web")
    token, task_id = faults["owner_token"], faults["tasks"][0]
    # Several requests at once: the server's pool holds several connections, all dropped.
    warm = [threading.Thread(target=get, args=(f"{url}/api/tasks", token)) for _ in range(8)]
    for thread in warm:
        thread.start()
    for thread in warm:
        thread.join()

    answer: list[tuple[int, Any]] = []
    with (
        psycopg.connect(faults["url"]) as locker,
        psycopg.connect(faults["url"], autocommit=True) as admin,
    ):
        # The request authenticates, then waits on this lock: it is mid-request when its
        # connection is dropped.
        locker.execute("LOCK TABLE tasks_task IN ACCESS EXCLUSIVE MODE")
        request = threading.Thread(
            target=lambda: answer.append(get(f"{url}/api/tasks/{task_id}", token, timeout=60))
        )
        request.start()
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        wait_until(lambda: admin.execute(waiting).fetchone() == (1,), "the request to wait")
        dropped = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), %s)",
            [locker.info.backend_pid],
        ).fetchone()
        assert dropped and dropped[0] >= 2  # the waiting request's and idle pooled ones
        locker.rollback()
        request.join(timeout=live.WAIT)
    assert not request.is_alive()
    [(status, body)] = answer
    assert status == 500 and body["success"] is False, body

    for _ in range(20):  # the next requests, whichever pooled connection they get
        status, body = get(f"{url}/api/tasks/{task_id}", token)  # 15 s: a hang guard
        assert status == 200, body
    assert rename(url, token, task_id, "Written after the drop") == 200
    status, body = get(f"{url}/api/tasks/{task_id}", token)
    assert body["data"]["title"] == "Written after the drop"


def test_events_committed_while_the_push_server_is_down_arrive_once_in_order(faults, stack, redis):
    """The API server and the dispatcher publish to push server A; the client listens on
    server B (A and B share the Redis channel layer). A is down for 30 s while titles
    change; every change reaches the client once A is back, in seq order, none twice."""
    stack.env["REDIS_URL"] = redis.url
    # Waits between attempts double up to this: the dispatcher tries again soon after A
    # is back (the default, 300 s, would hold the events up to 32 s more after 30 s).
    stack.env["OUTBOX_MAX_BACKOFF_SECONDS"] = "4"
    push = stack.server("push")
    push_port = port_of(push)
    client_server = stack.server("client-server")
    api = stack.server("api", PUSHER_PORT=str(push_port))
    stack.dispatcher(port=push_port)
    token, task_id = faults["owner_token"], faults["tasks"][1]
    channel = f"private-task-{task_id}"
    listener = listen_to(stack, "client-server", client_server, faults["viewer_token"], channel)
    try:
        assert rename(api, token, task_id, "before") == 200
        listener.wait_for(lambda line: titles([line]) == ["before"])

        stack.kill("push")
        down_at = time.monotonic()
        during = []
        while time.monotonic() - down_at < OUTAGE_SECONDS:
            during.append(f"during {len(during) + 1}")
            assert rename(api, token, task_id, during[-1]) == 200  # committed all the same
            time.sleep(3)
        assert any(not sent for _, _, sent in outbox(faults["url"], channel))
        stack.server("push", port=push_port)  # the same port: publishers are not told

        listener.wait_for(lambda line: titles([line]) == [during[-1]])
        assert rename(api, token, task_id, "after") == 200
        listener.wait_for(lambda line: titles([line]) == ["after"])
    finally:
        listener.close()
    expected = ["before", *during, "after"]
    assert titles(listener.seen) == expected  # in order, none lost, none twice
    rows = outbox(faults["url"], channel)
    assert [title for _, title, _ in rows] == expected and all(sent for _, _, sent in rows)


def test_websocket_clients_get_events_again_after_redis_restarts(faults, stack, redis):
    """Clients of two servers (A publishes, B hears A through Redis); Redis is killed
    and started again empty. Titles changed meanwhile reach every client (live or through
    its catch-up); changes after the restart arrive live on both servers."""
    stack.env["REDIS_URL"] = redis.url
    server_a = stack.server("web-a")
    server_b = stack.server("web-b")
    stack.dispatcher(port=port_of(server_a))
    token, task_id = faults["owner_token"], faults["tasks"][2]
    channel = f"private-task-{task_id}"
    listeners = {
        name: listen_to(
            stack, name, url, faults["viewer_token"], channel, catch_up=True, states=True
        )
        for name, url in (("web-a", server_a), ("web-b", server_b))
    }
    try:
        assert rename(server_a, token, task_id, "before") == 200
        for listener in listeners.values():
            listener.wait_for(lambda line: titles([line]) == ["before"])

        redis.stop()
        # A worker's way (the API needs Redis, its throttles count there): a process of
        # the product commits each change and publishes it to A, which cannot fan it out.
        during = [f"during {i}" for i in range(1, 4)]
        manage(
            {**stack.env, "PUSHER_PORT": str(port_of(server_a))},
            "shell",
            "-c",
            RENAME.format(task_id=task_id, titles=during),
        )
        redis.start()

        for listener in listeners.values():
            listener.wait_for(
                lambda line: (titles([line]) + titles([line], "replayed")) == [during[-1]]
            )
        assert rename(server_a, token, task_id, "after") == 200
        for listener in listeners.values():
            listener.wait_for(lambda line: titles([line]) == ["after"])
    finally:
        for listener in listeners.values():
            listener.close()
    expected = ["before", *during, "after"]
    for name, listener in listeners.items():
        live_titles = titles(listener.seen)
        seen = set(live_titles) | set(titles(listener.seen, "replayed"))
        assert seen == set(expected), (name, listener.seen)
        assert live_titles[0] == "before" and live_titles[-1] == "after", name
        assert len(live_titles) == len(set(live_titles)), (name, live_titles)  # none twice
        replayed = [line["seq"] for line in listener.seen if line["type"] == "replayed"]
        assert replayed == sorted(set(replayed)), name  # the catch-up in seq order, once
    assert all(sent for _, _, sent in outbox(faults["url"], channel))
