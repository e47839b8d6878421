"""POST /api/realtime/auth and GET /api/events, for every persona."""

from urllib.parse import urlencode

import pytest
from django.conf import settings

from realtime import protocol
from realtime.events import publish, task_channel, workspace_channel
from realtime.models import OutboxEvent
from tests.factories import TaskFactory
from tests.personas import PERSONAS, assert_error, expect

# Channel auth and replay are granted to members; anyone else gets the contract's 404, as
# for every row a caller may not see.
AUTH = {
    "owner": 200,
    "admin": 200,
    "developer": 200,
    "viewer": 200,
    "outsider": 404,
    "anonymous": 401,
}
CODES = {401: "UNAUTHENTICATED", 404: "NOT_FOUND"}


@pytest.fixture
def task(workspace):
    return TaskFactory(workspace=workspace)


def auth(client, channel, socket_id="123.456"):
    return client.post(
        "/api/realtime/auth",
        urlencode({"socket_id": socket_id, "channel_name": channel}),
        content_type="application/x-www-form-urlencoded",  # as pusher-js posts it
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_task_channel_auth_by_persona(api, task, persona):
    channel = task_channel(task.id)
    response = auth(api(persona), channel)
    if AUTH[persona] == 200:
        assert response.status_code == 200, response.content
        assert response.json() == {"auth": protocol.channel_auth("123.456", channel)}
        key, signature = response.json()["auth"].split(":")
        assert key == settings.PUSHER_KEY
        assert signature == protocol.sign(settings.PUSHER_SECRET, f"123.456:{channel}")
    else:
        assert_error(response, AUTH[persona], CODES[AUTH[persona]])


@pytest.mark.parametrize("persona", PERSONAS)
def test_workspace_channel_auth_by_persona(api, workspace, persona):
    response = auth(api(persona), workspace_channel(workspace.slug))
    if AUTH[persona] == 200:
        assert response.status_code == 200
        assert "auth" in response.json()
    else:
        assert_error(response, AUTH[persona], CODES[AUTH[persona]])


def test_auth_takes_the_form_urlencoded_body_pusher_js_sends(api, task):
    channel = task_channel(task.id)
    response = api("viewer").post(
        "/api/realtime/auth",
        f"socket_id=1.2&channel_name={channel}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert response.json()["auth"] == protocol.channel_auth("1.2", channel)


def test_auth_works_with_the_session_of_the_web_console(client, people, task):
    client.force_login(people["viewer"])
    response = client.post(
        "/api/realtime/auth",
        urlencode({"socket_id": "1.2", "channel_name": task_channel(task.id)}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200


@pytest.mark.parametrize("socket_id", ["", "abc", "1.2.3", "12", "1.2\n"])
def test_auth_refuses_a_malformed_socket_id(api, task, socket_id):
    body = assert_error(
        auth(api("owner"), task_channel(task.id), socket_id), 400, "VALIDATION_ERROR"
    )
    assert "socketId" in body["details"]


@pytest.mark.parametrize(
    "channel",
    [
        "private-task-not-a-uuid",
        "private-task-00000000-0000-0000-0000-000000000000",
        "private-workspace-elsewhere",
        "private-other-thing",
        "presence-task-x",
    ],
)
def test_auth_refuses_channels_the_caller_cannot_see(api, channel):
    assert_error(auth(api("owner"), channel), 404, "NOT_FOUND")


def test_auth_refuses_another_workspaces_task(api, people):
    foreign = TaskFactory(workspace=people.elsewhere)
    assert_error(auth(api("owner"), task_channel(foreign.id)), 404, "NOT_FOUND")
    assert auth(api("outsider"), task_channel(foreign.id)).status_code == 200


def test_public_channel_names_are_authorized_the_same_way(api, task, settings):
    settings.REALTIME_PUBLIC_CHANNELS = True
    assert auth(api("viewer"), task_channel(task.id)).status_code == 200
    assert_error(auth(api("outsider"), task_channel(task.id)), 404, "NOT_FOUND")


@pytest.mark.parametrize("persona", PERSONAS)
def test_event_replay_by_persona(api, task, persona):
    channel = task_channel(task.id)
    publish(channel, "new-message", "m1")
    response = api(persona).get("/api/events", {"channel": channel})
    if AUTH[persona] == 200:
        assert response.status_code == 200
        body = response.json()
        assert body["success"] is True
        assert [(e["seq"], e["event"], e["data"]) for e in body["data"]] == [
            (1, "new-message", "m1")
        ]
        assert set(body["data"][0]) == {"channel", "seq", "event", "data", "createdAt", "sentAt"}
    else:
        assert_error(response, AUTH[persona], CODES[AUTH[persona]])


def test_event_replay_pages_after_a_seq(api, task, django_assert_num_queries):
    channel = task_channel(task.id)
    for n in range(5):
        publish(channel, "workflow-status-update", {"taskId": str(task.id), "n": n})
    publish(workspace_channel("acme"), "task-updated", {"taskId": str(task.id)})
    client = api("viewer")
    first = client.get("/api/events", {"channel": channel, "after": 1, "limit": 2}).json()
    assert [e["seq"] for e in first["data"]] == [2, 3]
    assert first["data"][0]["data"] == {"taskId": str(task.id), "n": 1}  # verbatim keys
    assert first["pagination"] == {
        "limit": 2,
        "hasMore": True,
        "nextAfter": 3,
        "oldestSeq": 1,
        "retentionDays": 7,
    }
    rest = client.get("/api/events", {"channel": channel, "after": 3, "limit": 50}).json()
    assert [e["seq"] for e in rest["data"]] == [4, 5]
    assert rest["pagination"]["hasMore"] is False
    assert rest["pagination"]["nextAfter"] is None


@pytest.mark.parametrize("count", [1, 50])
def test_event_replay_query_count_does_not_grow_with_rows(
    api, task, count, django_assert_num_queries
):
    channel = task_channel(task.id)
    for n in range(count):
        publish(channel, "e", n)
    client = api("viewer")
    # token, its last-used stamp, the task's workspace, the caller's roles, the oldest seq
    # kept (the replay window), the events
    with django_assert_num_queries(6):
        response = client.get("/api/events", {"channel": channel, "limit": 100})
    assert len(response.json()["data"]) == count


@pytest.mark.parametrize(
    "query", [{}, {"channel": "x", "after": "abc"}, {"channel": "x", "limit": 0}]
)
def test_event_replay_refuses_bad_queries(api, query):
    assert_error(api("owner").get("/api/events", query), 400, "VALIDATION_ERROR")


def test_replay_beyond_the_window_is_410_and_names_the_oldest_seq(api, task):
    channel = task_channel(task.id)
    for n in range(4):
        publish(channel, "e", n)
    OutboxEvent.objects.filter(channel=channel, seq__lte=2).delete()  # retention took them
    client = api("viewer")
    response = client.get("/api/events", {"channel": channel, "after": 1})
    assert_error(response, 410, "REPLAY_WINDOW_EXCEEDED")
    kept = expect(client.get("/api/events", {"channel": channel, "after": 2}), 200)
    assert [e["seq"] for e in kept["data"]] == [3, 4]
    assert kept["pagination"]["oldestSeq"] == 3


def test_replay_of_a_channel_whose_events_all_went_is_410(api, task):
    channel = task_channel(task.id)
    publish(channel, "e", 1)
    OutboxEvent.objects.filter(channel=channel).delete()
    client = api("viewer")
    assert_error(client.get("/api/events", {"channel": channel}), 410, "REPLAY_WINDOW_EXCEEDED")
    assert expect(client.get("/api/events", {"channel": channel, "after": 1}), 200)["data"] == []
