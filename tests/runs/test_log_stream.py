"""GET /api/tasks/{id}/logs/stream through the ASGI application (Channels' HttpCommunicator)."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator
from django.test import Client

from accounts.models import ApiToken
from config.asgi import application
from runs.logs import append_lines
from runs.models import TaskRun
from runs.runners import Outcome
from runs.worker import finish_run
from tests.factories import TaskFactory
from tests.personas import PERSONAS

pytestmark = pytest.mark.django_db(transaction=True)


class Stream:
    """An SSE client on a communicator: `events()` parses what arrived so far."""

    def __init__(self, path, token=None, headers=(), method="GET"):
        hdrs = list(headers)
        if token:
            hdrs.append((b"authorization", f"Bearer {token}".encode()))
        self.comm = HttpCommunicator(application, method, path, headers=hdrs)
        self.buffer = ""
        self.done = False

    async def start(self):
        await self.comm.send_input({"type": "http.request", "body": b""})
        start = await self.comm.receive_output(5)
        self.status = start["status"]
        self.headers = dict(start.get("headers", []))
        return self

    async def read(self, timeout=5):
        message = await self.comm.receive_output(timeout)
        self.buffer += message["body"].decode()
        self.done = not message.get("more_body", False)

    async def read_until(self, predicate, timeout=10):
        parsed = []

        async def loop():
            while True:
                parsed[:] = self.events()
                if predicate(parsed) or self.done:
                    return
                await self.read(timeout)

        await asyncio.wait_for(loop(), timeout)
        return self.events()

    def events(self):
        found = []
        for block in self.buffer.split("\n\n")[:-1]:
            fields = {}
            for line in block.split("\n"):
                if line.startswith(":"):
                    continue
                key, _, value = line.partition(": ")
                fields[key] = value
            if "event" in fields:
                found.append((fields["event"], fields.get("id"), json.loads(fields["data"])))
        return found

    async def close(self):
        await self.comm.send_input({"type": "http.disconnect"})
        await self.comm.wait(5)


def token_for(user):
    return ApiToken.issue(user, "sse")[1]


def log_seqs(events):
    return [int(eid) for name, eid, _ in events if name == "log"]


def test_reconnect_with_last_event_id_gets_every_later_line_exactly_once(people, workspace):
    task = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    run = TaskRun.objects.create(task=task, number=1, status="IN_PROGRESS")
    token = token_for(people["developer"])
    path = f"/api/tasks/{task.pk}/logs/stream"
    write = database_sync_to_async(append_lines)

    async def scenario():
        first = await Stream(path, token).start()
        assert first.status == 200
        assert first.headers[b"Content-Type"].startswith(b"text/event-stream")
        events = await first.read_until(lambda e: e and e[0][0] == "init")
        assert (
            events[0][2]["logs"] == [] and events[0][2]["task"]["workflowStatus"] == "IN_PROGRESS"
        )
        for start in range(1, 61, 10):
            await write(run, [("stdout", f"line {i}") for i in range(start, start + 10)])
        events = await first.read_until(lambda e: 50 in log_seqs(e))
        await first.close()
        assert log_seqs(events)[:50] == list(range(1, 51))

        for start in range(61, 301, 20):  # written while disconnected
            await write(run, [("stdout", f"line {i}") for i in range(start, start + 20)])
        second = await Stream(path, token, [(b"last-event-id", b"50")]).start()
        writer = asyncio.ensure_future(write_rest())
        events = await second.read_until(lambda e: 500 in log_seqs(e), timeout=20)
        await writer
        await database_sync_to_async(finish_run)(run, Outcome("COMPLETED"), [])
        events = await second.read_until(lambda e: False)  # to the end of the response
        assert second.done
        return events

    async def write_rest():
        for start in range(301, 501, 10):
            await write(run, [("stdout", f"line {i}") for i in range(start, start + 10)])
            await asyncio.sleep(0)

    events = async_to_sync(scenario)()
    assert log_seqs(events) == list(range(51, 501))
    lines = [data["line"] for name, _, data in events if name == "log"]
    assert lines == [f"line {i}" for i in range(51, 501)]
    names = [name for name, _, _ in events]
    assert names[0] == "init" and names[-1] == "end"
    assert ("status", None, {"workflowStatus": "COMPLETED"}) in events


def test_init_carries_the_tail_and_a_finished_task_ends_at_once(people, workspace):
    task = TaskFactory(workspace=workspace, workflow_status="COMPLETED")
    run = TaskRun.objects.create(task=task, number=1, status="COMPLETED")
    append_lines(run, [("stdout", f"l{i}") for i in range(1, 11)])
    token = token_for(people["viewer"])

    async def scenario():
        stream = await Stream(f"/api/tasks/{task.pk}/logs/stream?tail=3", token).start()
        return await stream.read_until(lambda e: False), stream

    events, stream = async_to_sync(scenario)()
    assert stream.done and [e[0] for e in events] == ["init", "end"]
    init = events[0]
    assert init[1] == "10" and [line["seq"] for line in init[2]["logs"]] == [8, 9, 10]


def test_after_query_and_token_query_param(people, workspace):
    task = TaskFactory(workspace=workspace, workflow_status="COMPLETED")
    run = TaskRun.objects.create(task=task, number=1, status="COMPLETED")
    append_lines(run, [("stdout", f"l{i}") for i in range(1, 6)])
    token = token_for(people["viewer"])

    async def scenario():
        stream = await Stream(f"/api/tasks/{task.pk}/logs/stream?after=3&token={token}").start()
        return await stream.read_until(lambda e: False)

    assert log_seqs(async_to_sync(scenario)()) == [4, 5]


STREAM_STATUS = {
    "owner": 200,
    "admin": 200,
    "developer": 200,
    "viewer": 200,
    "outsider": 404,
    "anonymous": 401,
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_stream_by_persona(people, workspace, persona):
    task = TaskFactory(workspace=workspace, workflow_status="COMPLETED")
    token = None if persona == "anonymous" else token_for(people[persona])

    async def scenario():
        stream = await Stream(f"/api/tasks/{task.pk}/logs/stream", token).start()
        await stream.read_until(lambda e: False)
        return stream

    stream = async_to_sync(scenario)()
    assert stream.status == STREAM_STATUS[persona]
    if stream.status != 200:
        body = json.loads(stream.buffer)
        assert body["success"] is False
        assert body["code"] == {401: "UNAUTHENTICATED", 404: "NOT_FOUND"}[stream.status]


def session_cookie(user):
    """The web console's credential: a Django session, as its EventSource sends it."""
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@pytest.mark.parametrize("persona", PERSONAS)
def test_stream_by_persona_with_the_console_session(people, workspace, persona):
    task = TaskFactory(workspace=workspace, workflow_status="COMPLETED")
    headers = [] if persona == "anonymous" else [session_cookie(people[persona])]

    async def scenario():
        stream = await Stream(f"/api/tasks/{task.pk}/logs/stream", headers=headers).start()
        await stream.read_until(lambda e: False)
        return stream

    stream = async_to_sync(scenario)()
    assert stream.status == STREAM_STATUS[persona]
    if stream.status == 200:
        assert [name for name, _, _ in stream.events()] == ["init", "end"]
    else:
        body = json.loads(stream.buffer)
        assert body["code"] == {401: "UNAUTHENTICATED", 404: "NOT_FOUND"}[stream.status]


def test_a_bad_token_is_401_even_with_a_session(people, workspace):
    task = TaskFactory(workspace=workspace, workflow_status="COMPLETED")
    headers = [session_cookie(people["developer"])]

    async def scenario():
        stream = await Stream(f"/api/tasks/{task.pk}/logs/stream", "td_nope", headers).start()
        await stream.read_until(lambda e: False)
        return stream

    assert async_to_sync(scenario)().status == 401


@pytest.mark.parametrize("how", ["deployment", "workspace"])
def test_stream_with_logs_disabled_is_404(people, workspace, settings, how):
    if how == "deployment":
        settings.TASK_LOGS_ENABLED = False
    else:
        workspace.features = {"taskLogsEnabled": False}
        workspace.save()
    task = TaskFactory(workspace=workspace)
    token = token_for(people["viewer"])

    async def scenario():
        stream = await Stream(f"/api/tasks/{task.pk}/logs/stream", token).start()
        await stream.read_until(lambda e: False)
        return stream

    stream = async_to_sync(scenario)()
    assert stream.status == 404 and json.loads(stream.buffer)["code"] == "TASK_LOGS_DISABLED"


def test_bad_last_event_id_is_400(people, workspace):
    task = TaskFactory(workspace=workspace)
    token = token_for(people["viewer"])

    async def scenario():
        stream = await Stream(f"/api/tasks/{task.pk}/logs/stream?after=abc", token).start()
        await stream.read_until(lambda e: False)
        return stream

    stream = async_to_sync(scenario)()
    assert stream.status == 400 and json.loads(stream.buffer)["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT"])
def test_the_stream_answers_only_get(people, workspace, method):
    task = TaskFactory(workspace=workspace)
    token = token_for(people["viewer"])

    async def scenario():
        stream = await Stream(f"/api/tasks/{task.pk}/logs/stream", token, method=method).start()
        await stream.read_until(lambda e: False)
        return stream

    stream = async_to_sync(scenario)()
    assert stream.status == 405 and json.loads(stream.buffer)["code"] == "METHOD_NOT_ALLOWED"
    assert stream.headers[b"Allow"] == b"GET, HEAD"


def test_a_malformed_task_id_is_404(people, workspace):
    token = token_for(people["viewer"])

    async def scenario():
        path = "/api/tasks/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/logs/stream"
        stream = await Stream(path.replace("z", "-"), token).start()
        await stream.read_until(lambda e: False)
        return stream

    stream = async_to_sync(scenario)()
    assert stream.status == 404 and json.loads(stream.buffer)["code"] == "NOT_FOUND"


def test_keep_alive_comment_and_poll_fallback(people, workspace, settings):
    settings.LOG_STREAM_KEEPALIVE_SECONDS = 0.2
    settings.LOG_STREAM_POLL_SECONDS = 0.2
    task = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    run = TaskRun.objects.create(task=task, number=1, status="IN_PROGRESS")
    token = token_for(people["viewer"])

    def write_without_notifying():
        from runs.models import TaskLog

        TaskLog.objects.create(task=task, run=run, seq=1, line="from another process")
        TaskRun.objects.filter(pk=run.pk).update(status="COMPLETED")

    async def scenario():
        stream = await Stream(f"/api/tasks/{task.pk}/logs/stream", token).start()
        await stream.read_until(lambda e: e)
        await asyncio.sleep(0.5)
        await database_sync_to_async(write_without_notifying)()
        events = await stream.read_until(lambda e: False)
        return stream, events

    stream, events = async_to_sync(scenario)()
    assert ": keep-alive" in stream.buffer
    assert log_seqs(events) == [1] and events[-1][0] == "end"


@pytest.mark.parametrize("persona", PERSONAS)
def test_stream_snapshot_without_asgi_by_persona(api, workspace, persona):
    """Through Django alone (no Channels route) the endpoint answers one snapshot."""
    task = TaskFactory(workspace=workspace, workflow_status="COMPLETED")
    append_lines(
        TaskRun.objects.create(task=task, number=1, status="COMPLETED"),
        [("stdout", "a"), ("stdout", "b")],
    )
    response = api(persona).get(
        f"/api/tasks/{task.pk}/logs/stream?after=1", HTTP_ACCEPT="text/event-stream"
    )
    assert response.status_code == STREAM_STATUS[persona]
    if response.status_code == 200:
        text = response.content.decode()
        assert response["Content-Type"].startswith("text/event-stream")
        assert "event: init" in text and "id: 2\nevent: log" in text and "event: end" in text
        assert "id: 1\n" not in text
    else:
        assert json.loads(response.content)["success"] is False


@pytest.mark.parametrize("how", ["removed", "revoked", "logs_disabled"])
def test_an_open_stream_ends_when_access_ends(people, workspace, settings, how):
    """The stream follows access: a member removed (or the token revoked) while watching
    gets an `end` event with a reason within a few seconds, and nothing more."""
    settings.STREAM_ACCESS_CHECK_SECONDS = 0.3
    task = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    run = TaskRun.objects.create(task=task, number=1, status="IN_PROGRESS")
    viewer = people["viewer"]
    token, raw = ApiToken.issue(viewer, "sse")

    def lose_access():
        from accounts.models import Membership

        if how == "removed":
            Membership.objects.filter(user=viewer, workspace=workspace).delete()
        elif how == "revoked":
            token.revoke()
        else:
            workspace.features = {**workspace.features, "taskLogsEnabled": False}
            workspace.save()

    async def scenario():
        stream = await Stream(f"/api/tasks/{task.pk}/logs/stream", raw).start()
        await stream.read_until(lambda e: e)
        await database_sync_to_async(append_lines)(run, [("stdout", "still allowed")])
        await stream.read_until(lambda e: any(name == "log" for name, _, _ in e))
        await database_sync_to_async(lose_access)()
        started = asyncio.get_running_loop().time()
        events = await stream.read_until(lambda e: e[-1][0] == "end", timeout=5)
        took = asyncio.get_running_loop().time() - started
        await database_sync_to_async(append_lines)(run, [("stdout", "not for you")])
        await asyncio.sleep(0.5)
        return stream, events, took

    stream, events, took = async_to_sync(scenario)()
    assert stream.status == 200 and took < 3
    assert events[-1][0] == "end" and "Access ended" in events[-1][2]["reason"]
    assert "not for you" not in stream.buffer and "still allowed" in stream.buffer
