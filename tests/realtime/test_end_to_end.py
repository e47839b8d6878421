"""End to end: a real daphne process, the real pusher-js 8 under Node, and events
published from this process through the official `pusher` client over Pusher's HTTP
API (the path workers take). No timing assertions: waits only guard against hangs."""

import json
import subprocess
import sys
import threading
import urllib.request
from datetime import timedelta

import pusher
import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from realtime import dispatch
from realtime.events import publish
from realtime.models import OutboxEvent
from tests.realtime import live

pytestmark = pytest.mark.django_db(transaction=True)


def is_event(name: str | None = None):
    return lambda line: line["type"] == "event" and (name is None or line["event"] == name)


def subscribed(line):
    return line["type"] == "subscribed"


def test_pusher_js_receives_committed_events_in_commit_order_and_nothing_rolled_back(
    server, listeners, publish_to, live_db
):
    task_channel = f"private-task-{live_db['task_id']}"
    workspace_channel = f"private-workspace-{live_db['slug']}"
    client = listeners(server, live_db["member_token"], [task_channel, workspace_channel])
    client.wait_for(subscribed, count=2)
    [config] = client.wait_for(lambda line: line["type"] == "config")
    assert config["realtime"] == {
        "key": settings.PUSHER_KEY,
        "wsHost": "127.0.0.1",
        "wsPort": server.port,
        "forceTLS": False,
        "authEndpoint": f"{server.url}/api/realtime/auth",
        "cluster": "mt1",
    }
    publish_to(server.port)
    task_id = live_db["task_id"]
    status = {
        "taskId": task_id,
        "workflowStatus": "IN_PROGRESS",
        "timestamp": "2026-11-23T09:00:00Z",
    }
    title = {"taskId": task_id, "newTitle": "New", "previousTitle": "Old"}

    with transaction.atomic():
        publish(task_channel, "new-message", "6c1f9f36-0000-4000-8000-000000000001")
        publish(task_channel, "workflow-status-update", status)
    with pytest.raises(RuntimeError), transaction.atomic():
        publish(task_channel, "task-title-update", {"taskId": task_id, "newTitle": "Lost"})
        raise RuntimeError("the change is rolled back")
    with transaction.atomic():
        publish(task_channel, "task-title-update", title)
        publish(workspace_channel, "workspace-task-title-update", title)

    client.wait_for(is_event(), count=4)
    received = [(e["channel"], e["event"], e["data"]) for e in client.events()]
    assert received[:3] == [
        (task_channel, "new-message", "6c1f9f36-0000-4000-8000-000000000001"),
        (task_channel, "workflow-status-update", status),
        (task_channel, "task-title-update", title),
    ]
    assert received[3] == (workspace_channel, "workspace-task-title-update", title)
    assert not any(
        e["data"].get("newTitle") == "Lost" for e in client.events() if isinstance(e["data"], dict)
    )
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()


def rest(server, token: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{server.url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_changes_made_through_the_rest_api_reach_pusher_js_with_the_seed_payloads(
    server, listeners, live_db
):
    """The server publishes its own changes (PATCH, a chat message) to its built-in
    Pusher server after commit; a viewer's pusher-js sees them in commit order."""
    task_id = live_db["task_id"]
    task_channel = f"private-task-{task_id}"
    workspace_channel = f"private-workspace-{live_db['slug']}"
    client = listeners(server, live_db["member_token"], [task_channel, workspace_channel])
    client.wait_for(subscribed, count=2)

    before = rest(server, live_db["writer_token"], "GET", f"/api/tasks/{task_id}")
    previous = before["data"]["title"]
    rest(server, live_db["writer_token"], "PATCH", f"/api/tasks/{task_id}", {"title": "Renamed"})
    posted = rest(
        server,
        live_db["writer_token"],
        "POST",
        "/api/chat/message",
        {"taskId": task_id, "message": "Please start"},
    )["message"]

    on_task = lambda line: is_event()(line) and line["channel"] == task_channel  # noqa: E731
    client.wait_for(on_task, count=3)
    title = {"taskId": task_id, "newTitle": "Renamed", "previousTitle": previous}
    received = [(e["event"], e["data"]) for e in client.events() if e["channel"] == task_channel]
    assert received[:2] == [("task-title-update", title), ("new-message", posted["id"])]
    event, status = received[2]
    assert event == "workflow-status-update"
    assert (status["taskId"], status["workflowStatus"]) == (task_id, "PENDING")
    assert status["timestamp"].endswith("Z")
    client.wait_for(lambda line: is_event("workspace-task-title-update")(line))
    [workspace_title] = [
        e["data"] for e in client.events() if e["event"] == "workspace-task-title-update"
    ]
    assert workspace_title == title


def test_a_non_members_subscription_is_refused(server, listeners, live_db):
    client = listeners(
        server,
        live_db["outsider_token"],
        [f"private-task-{live_db['task_id']}", f"private-workspace-{live_db['slug']}"],
    )
    refused = client.wait_for(lambda line: line["type"] == "subscription_error", count=2)
    assert {line["status"] for line in refused} == {404}
    assert not [line for line in client.seen if line["type"] == "subscribed"]


def test_a_forged_publish_signature_is_refused_by_the_server(server):
    def client(**overrides):
        options = {
            "app_id": settings.PUSHER_APP_ID,
            "key": settings.PUSHER_KEY,
            "secret": settings.PUSHER_SECRET,
            "host": "127.0.0.1",
            "port": server.port,
            "ssl": False,
        }
        return pusher.Pusher(**{**options, **overrides})

    with pytest.raises(pusher.errors.PusherBadAuth):
        client(secret="forged").trigger("public-room", "e", {"n": 1})
    with pytest.raises(pusher.errors.PusherBadAuth):
        client(key="someone-else").trigger_batch([{"channel": "c", "name": "e", "data": "{}"}])
    # The same client with the right secret (Pusher-service mode, same code path) is accepted.
    assert client().trigger("public-room", "e", {"n": 1}) == {}


def test_two_servers_sharing_redis_deliver_to_each_others_clients(
    start_server, listeners, publish_to, live_db
):
    # In the SQLite run REDIS_URL is empty; Redis is always at hand on these machines.
    redis_url = settings.REDIS_URL or "redis://127.0.0.1:6379/4"
    first, second = start_server(redis_url), start_server(redis_url)
    channel = f"private-task-{live_db['task_id']}"
    client = listeners(second, live_db["member_token"], [channel])
    client.wait_for(subscribed)
    publish_to(first.port)
    with transaction.atomic():
        publish(channel, "new-message", "across")
    [event] = client.wait_for(is_event("new-message"))
    assert event["data"] == "across"


def test_events_wait_in_the_outbox_while_the_push_service_is_down_then_all_arrive_once_in_order(
    server, listeners, publish_to, live_db
):
    channel = f"private-task-{live_db['task_id']}"
    client = listeners(server, live_db["member_token"], [channel])
    client.wait_for(subscribed)

    publish_to(live.free_port())  # nothing listens there
    for n in range(100):
        with transaction.atomic():
            publish(channel, "workflow-status-update", {"n": n})
    unsent = OutboxEvent.objects.filter(channel=channel, sent_at__isnull=True)
    assert unsent.count() == 100
    head = unsent.order_by("seq").first()
    assert head.attempts >= 1 and head.last_error and head.next_attempt_at

    publish_to(server.port)
    later = timezone.now() + timedelta(minutes=10)  # past any backoff
    assert dispatch.dispatch_pending(now=later) == 100
    assert dispatch.dispatch_pending(now=later) == 0
    with transaction.atomic():
        publish(channel, "marker", "end")  # anything sent twice would arrive before it
    client.wait_for(is_event("marker"))
    numbers = [e["data"]["n"] for e in client.events() if e["event"] == "workflow-status-update"]
    assert numbers == list(range(100))
    seqs = list(OutboxEvent.objects.filter(channel=channel).values_list("seq", flat=True))
    assert sorted(seqs) == list(range(1, 102))


def test_two_hundred_subscribers_on_one_channel_each_receive_the_event_once(
    server, listeners, publish_to, live_db
):
    channel = f"private-workspace-{live_db['slug']}"
    # Opened 20 at a time: under daphne every concurrent auth request holds its own
    # database connection, and the shared PostgreSQL allows 100.
    crowd = listeners(server, live_db["member_token"], [channel], clients=200, batch=20)
    crowd.wait_for(subscribed, count=200)
    publish_to(server.port)
    with transaction.atomic():
        publish(channel, "task-created", {"taskId": live_db["task_id"]})
    with transaction.atomic():
        publish(channel, "marker", "end")
    crowd.wait_for(is_event("marker"), count=200)
    per_client = [e["client"] for e in crowd.events() if e["event"] == "task-created"]
    assert sorted(per_client) == list(range(200))


def test_concurrent_writers_on_one_channel_get_gap_free_seq_in_the_servers_database(live_db):
    """Four processes publish 25 events each to one channel at once (the e2e database is
    a file or a PostgreSQL database, so the writers really are concurrent)."""
    script = (
        "from django.db import transaction\n"
        "from realtime.events import publish\n"
        "for n in range(25):\n"
        "    with transaction.atomic():\n"
        "        publish('private-task-concurrent', 'e', n)\n"
    )
    env = live.server_env(live_db["url"], REALTIME_PUBLISHER="none")
    writers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=live.ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(4)
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0, 0]
    count_seqs = (
        "import json; from realtime.models import OutboxEvent; print(json.dumps(list("
        "OutboxEvent.objects.filter(channel='private-task-concurrent')"
        ".values_list('seq', flat=True))))"
    )
    seqs = json.loads(live.last_line(live.manage(live_db["url"], "shell", "-c", count_seqs)))
    assert sorted(seqs) == list(range(1, 101))


RUNNING_TASK = """
from accounts.models import Workspace
from runs.models import TaskRun
from tasks.models import Task
task = Task.objects.create(workspace=Workspace.objects.get(slug="acme"), title="Queued")
TaskRun.objects.create(task=task, number=1)
print(task.id)
"""


def layer_of(settings, redis_url: str) -> None:
    """This process publishes with REALTIME_PUBLISHER=layer into a server's Redis layer."""
    settings.REALTIME_PUBLISHER = "layer"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url]},
        }
    }


def test_the_layer_publisher_reaches_pusher_js_through_a_servers_redis_layer(
    start_server, listeners, settings, live_db
):
    """REALTIME_PUBLISHER=layer: this process writes into the Redis channel layer the
    server reads (no HTTP); the events arrive in commit order."""
    redis_url = settings.REDIS_URL or "redis://127.0.0.1:6379/4"
    server = start_server(redis_url)
    channel = f"private-task-{live_db['task_id']}"
    client = listeners(server, live_db["member_token"], [channel])
    client.wait_for(subscribed)
    layer_of(settings, redis_url)
    with transaction.atomic():
        publish(channel, "new-message", "first")
        publish(channel, "task-updated", {"n": 2})
    with transaction.atomic():
        publish(channel, "new-message", "third")
    client.wait_for(is_event(), count=3)
    received = [(e["event"], e["data"]) for e in client.events()]
    assert received == [
        ("new-message", "first"),
        ("task-updated", {"n": 2}),
        ("new-message", "third"),
    ]
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()


def test_log_streams_that_close_lose_no_event_of_the_servers_sockets(
    start_server, listeners, settings, live_db
):
    """Events from another process reach a server through its Redis inbox, read by its
    hub alone. When every SSE log stream was a receiver of that inbox too, a stream that
    closed (its receive cancelled) could take an event meant for the hub with it: seen as
    the answer's `new-message` never reaching pusher-js, about once in 20 messages."""
    redis_url = settings.REDIS_URL or "redis://127.0.0.1:6379/4"
    server = start_server(redis_url)
    channel = f"private-task-{live_db['task_id']}"
    client = listeners(server, live_db["member_token"], [channel])
    client.wait_for(subscribed)
    layer_of(settings, redis_url)
    # A task of the server's database with a queued run: its streams stay open.
    running = live.last_line(live.manage(live_db["url"], "shell", "-c", RUNNING_TASK))
    path = f"/api/tasks/{running}/logs/stream?token={live_db['member_token']}"
    stop = threading.Event()

    def open_and_drop_streams() -> None:
        while not stop.is_set():
            with urllib.request.urlopen(server.url + path, timeout=10) as stream:
                while not stream.readline().startswith(b"event: init"):
                    pass  # then the client goes away while the stream waits for lines

    streams = [threading.Thread(target=open_and_drop_streams) for _ in range(4)]
    for thread in streams:
        thread.start()
    try:
        for n in range(150):
            with transaction.atomic():
                publish(channel, "new-message", f"m{n}")
    finally:
        stop.set()
        for thread in streams:
            thread.join(10)
    client.wait_for(is_event(), count=150)
    assert [e["data"] for e in client.events()] == [f"m{n}" for n in range(150)]
