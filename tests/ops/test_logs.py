"""Structured logs: one JSON line per request with its id, the same id in every record
of the run it queued (in a worker, later, in another context), and no secret in any
line (the quiet first start: a push server that does not listen yet is not an alarm)."""

import contextvars
import io
import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from config.logs import JsonFormatter, PlainFormatter, RequestContextFilter, scrub
from realtime.dispatch import dispatch_channel
from realtime.events import publish
from realtime.models import OutboxEvent
from runs.models import TaskRun
from runs.worker import run_task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def json_lines():
    """The records of the whole process, formatted as LOG_FORMAT=json formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_request_line_and_its_runs_lines_share_the_request_id(api, people, json_lines, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    response = api("developer").post(
        "/api/tasks",
        {"workspaceId": str(people.workspace.pk), "title": "Logged", "run": True},
        format="json",
        HTTP_X_REQUEST_ID="req-7f3a",
    )
    assert response.status_code == 201, response.content
    assert response["X-Request-ID"] == "req-7f3a"
    run = TaskRun.objects.get(task_id=response.json()["data"]["id"])
    assert run.request_id == "req-7f3a"

    # The worker, later, in a context of its own (nothing inherited from the request).
    contextvars.Context().run(run_task.call, str(run.pk))

    lines = json_lines()
    request_line = next(line for line in lines if line["logger"] == "taskdesk.requests")
    assert request_line["request_id"] == "req-7f3a"
    assert request_line["message"] == "POST /api/tasks 201"
    assert request_line["status"] == 201 and request_line["route"] == "/api/tasks"
    assert request_line["user_id"] == str(people["developer"].pk)
    assert request_line["workspace_id"] == str(people.workspace.pk)
    run_lines = [line for line in lines if line["logger"] == "runs.worker"]
    assert [line["message"] for line in run_lines] == [
        f"Run {run.pk} picked up",
        f"Run {run.pk} ended: COMPLETED",
    ]
    assert all(line["request_id"] == "req-7f3a" for line in run_lines)
    assert all(line["workspace_id"] == str(people.workspace.pk) for line in run_lines)


def test_a_request_without_an_id_gets_one_in_the_header_the_line_and_the_error(api, json_lines):
    response = api("viewer").get("/api/tasks/1b4e28ba-2fa1-11d2-883f-0016cb7f5a0c")
    assert response.status_code == 404
    made_up = response["X-Request-ID"]
    assert len(made_up) == 32
    assert response.json()["requestId"] == made_up
    line = next(line for line in json_lines() if line["logger"] == "taskdesk.requests")
    assert line["request_id"] == made_up and line["status"] == 404


@pytest.mark.parametrize(
    "text",
    [
        "POST /apps/1/batch_events?auth_key=k&auth_timestamp=1&auth_signature=abc123def",
        "Authorization: Bearer tdk_live_abcdef",
        "connecting to redis://user:hunter2@host:6379/0",
        "{'api_key': 'sk-verysecret'}",
        "token=tdk_abc&next=1",
        "PUSHER_SECRET=taskdesk-embedded-secret",
    ],
)
def test_scrub_removes_signatures_tokens_and_passwords(text):
    cleaned = scrub(text)
    for secret in (
        "abc123def",
        "tdk_live_abcdef",
        "hunter2",
        "sk-verysecret",
        "tdk_abc",
        "taskdesk-embedded-secret",
    ):
        assert secret not in cleaned
    assert "[redacted]" in cleaned


@pytest.mark.parametrize("formatter", [PlainFormatter("%(message)s"), JsonFormatter()])
def test_every_formatter_scrubs_messages_and_tracebacks(formatter):
    try:
        raise ConnectionError("GET http://h/apps/1/events?auth_signature=deadbeef refused")
    except ConnectionError:
        record = logging.LogRecord(
            "x", logging.WARNING, __file__, 1, "failed: %s", ("secret=s3",), None
        )
        import sys

        record.exc_info = sys.exc_info()
    RequestContextFilter().filter(record)
    line = formatter.format(record)
    assert "deadbeef" not in line and "s3" not in line.replace("s3cret", "")


def test_the_quiet_first_start(publish_to_closed_port, caplog):
    """Events written before the push server listens wait without a WARNING and without
    their signed URL anywhere; after OUTBOX_QUIET_SECONDS a failure is a WARNING, still
    scrubbed."""
    channel = "private-task-quiet"
    with caplog.at_level(logging.DEBUG, logger="taskdesk.realtime"):
        publish(channel, "e", {"n": 1})
    event = OutboxEvent.objects.get(channel=channel)
    assert event.sent_at is None and event.attempts == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "auth_signature" in event.last_error or "Connection" in event.last_error
    assert "auth_signature=" not in event.last_error.replace("auth_signature=[redacted]", "")

    caplog.clear()
    OutboxEvent.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - timedelta(minutes=5), next_attempt_at=None
    )
    with caplog.at_level(logging.DEBUG, logger="taskdesk.realtime"):
        dispatch_channel(channel)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    formatted = PlainFormatter("%(message)s").format(warnings[0])
    assert "auth_signature=" not in formatted.replace("auth_signature=[redacted]", "")


@pytest.fixture
def publish_to_closed_port(settings):
    from tests.realtime.live import free_port

    settings.REALTIME_PUBLISHER = "pusher"
    settings.PUSHER_HOST = "127.0.0.1"
    settings.PUSHER_PORT = free_port()  # nothing listens there
    settings.PUSHER_SSL = False
    settings.PUSHER_CLUSTER = ""
    settings.OUTBOX_QUIET_SECONDS = 60
