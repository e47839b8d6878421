"""Each metric family moves when its thing happens: scraped from /metrics, parsed with
the official client's parser, compared before and after."""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.utils import timezone

from config.asgi import application
from ops.models import Alert, AlertKind
from realtime.dispatch import dispatch_channel
from realtime.events import publish
from realtime.models import OutboxEvent
from runs.logs import LogWriter
from runs.models import TaskRun
from runs.reaper import reap_stale_runs
from runs.services import queue_run
from tests.factories import TaskFactory, TaskGroupFactory
from tests.ops.scrape import scrape, value

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def immediate_jobs(settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


def test_a_request_moves_the_http_counter_and_histogram_by_route(client, api):
    viewer = api("viewer")
    before = scrape(client)
    assert viewer.get("/api/tasks").status_code == 200
    missing = "1b4e28ba-2fa1-11d2-883f-0016cb7f5a0c"
    assert viewer.get(f"/api/tasks/{missing}").status_code == 404
    assert viewer.get("/api/no-such-thing/42").status_code == 404
    after = scrape(client)
    labels = {"route": "/api/tasks", "method": "GET", "status": "200"}
    total = "taskdesk_http_requests_total"
    assert value(after, total, **labels) == value(before, total, **labels) + 1
    # A path with an id is counted under its pattern: no id reaches a label.
    assert any(
        name == total and dict(lbl).get("route") == "/api/tasks/<uuid:task_id>"
        for name, lbl in after
    )
    assert not any(missing in str(lbl) or "no-such" in str(lbl) for _, lbl in after)
    hist = "taskdesk_http_request_duration_seconds_count"
    route = {"route": "/api/tasks", "method": "GET"}
    assert value(after, hist, **route) == value(before, hist, **route) + 1


def test_a_run_moves_started_finished_duration_wait_and_log_lines(client, workspace):
    before = scrape(client)
    run = queue_run(TaskFactory(workspace=workspace))
    run.refresh_from_db()
    assert run.status == "COMPLETED"
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("taskdesk_runs_started_total") == 1
    assert moved("taskdesk_runs_finished_total", status="COMPLETED", workspace="") == 1
    assert moved("taskdesk_run_duration_seconds_count", status="COMPLETED") == 1
    assert moved("taskdesk_run_queue_wait_seconds_count") == 1
    assert moved("taskdesk_log_lines_written_total") == run.logs.count() > 0


def test_workspace_label_only_when_turned_on(client, workspace, settings):
    settings.METRICS_WORKSPACE_LABEL = True
    queue_run(TaskFactory(workspace=workspace))
    after = scrape(client)
    label = {"status": "COMPLETED", "workspace": str(workspace.pk)}
    assert value(after, "taskdesk_runs_finished_total", **label) >= 1


def test_truncated_log_lines_are_counted(client, workspace, settings):
    settings.TASK_LOG_MAX_LINES = 3
    run = TaskRun.objects.create(task=TaskFactory(workspace=workspace), number=1)
    before = scrape(client)
    writer = LogWriter(run)
    for i in range(10):
        writer.write("stdout", f"line {i}")
    writer.flush()
    after = scrape(client)
    truncated = "taskdesk_log_lines_truncated_total"
    assert value(after, truncated) - value(before, truncated) == 7


def test_a_reaped_run_is_counted(client, workspace, settings):
    settings.STALE_RUN_SECONDS = 60
    task = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    old = timezone.now() - timedelta(seconds=120)
    TaskRun.objects.create(
        task=task, number=1, status="IN_PROGRESS", started_at=old, heartbeat_at=old
    )
    before = scrape(client)
    assert reap_stale_runs() == 1
    after = scrape(client)
    name = "taskdesk_runs_reaped_total"
    assert value(after, name) - value(before, name) == 1
    ended = "taskdesk_runs_finished_total"
    assert (
        value(after, ended, status="ERROR", workspace="")
        - value(before, ended, status="ERROR", workspace="")
        == 1
    )


class Refusing:
    def send(self, events):
        raise ConnectionError("refused")


def test_a_failed_then_a_good_delivery_move_the_outbox_families(client, settings):
    channel = "private-task-metrics"
    publish(channel, "e", {"n": 1})  # the recording publisher delivers it
    before = scrape(client)
    settings.REALTIME_PUBLISHER = "tests.ops.test_metrics.Refusing"
    publish(channel, "e", {"n": 2})
    failed = scrape(client)
    assert value(failed, "taskdesk_outbox_backlog") == 1
    assert value(failed, "taskdesk_outbox_oldest_undelivered_age_seconds") >= 0

    def moved(after, name):
        return value(after, name) - value(before, name)

    assert moved(failed, "taskdesk_outbox_delivery_attempts_total") == 1
    assert moved(failed, "taskdesk_outbox_delivery_failures_total") == 1
    settings.REALTIME_PUBLISHER = "tests.recording.RecordingPublisher"
    OutboxEvent.objects.update(next_attempt_at=None)
    assert dispatch_channel(channel) == 1
    sent = scrape(client)
    assert moved(sent, "taskdesk_outbox_delivery_attempts_total") == 2
    assert moved(sent, "taskdesk_outbox_delivery_failures_total") == 1
    assert moved(sent, "taskdesk_outbox_delivered_events_total") == 1
    assert moved(sent, "taskdesk_outbox_delivery_lag_seconds_count") == 1
    assert value(sent, "taskdesk_outbox_backlog") == 0


def test_queue_depth_by_reason_and_open_alerts(client, workspace):
    group = TaskGroupFactory(workspace=workspace)
    busy = TaskFactory(workspace=workspace, group=group)
    TaskRun.objects.create(task=busy, number=1, status="IN_PROGRESS")
    TaskRun.objects.create(task=TaskFactory(workspace=workspace, group=group), number=1)
    TaskRun.objects.create(task=TaskFactory(workspace=workspace), number=1)
    Alert.objects.create(kind=AlertKind.STUCK_PENDING, detail="x", last_seen_at=timezone.now())
    samples = scrape(client)
    depth = "taskdesk_run_queue_depth"
    assert value(samples, depth, reason="behind_running") == 1
    assert value(samples, depth, reason="waiting_for_worker") == 1
    assert value(samples, "taskdesk_alerts_open", kind="stuck_pending") == 1
    assert value(samples, "taskdesk_alerts_open", kind="failure_spike") == 0


def test_websocket_connections_and_subscriptions_are_gauges(client):
    read = database_sync_to_async(scrape)

    async def scenario():
        before = await read(client)
        socket = WebsocketCommunicator(application, f"/app/{settings.PUSHER_KEY}?protocol=7")
        assert (await socket.connect())[0]
        await socket.receive_json_from()
        await socket.send_json_to(
            {"event": "pusher:subscribe", "data": {"channel": "public-metrics"}}
        )
        await socket.receive_json_from()
        during = await read(client)
        await socket.disconnect()
        return before, during, await read(client)

    before, during, after = asyncio.run(scenario())
    for name in ("taskdesk_websocket_connections", "taskdesk_websocket_subscriptions"):
        assert value(during, name) == value(before, name) + 1, name
        assert value(after, name) == value(before, name), name


def test_an_open_sse_stream_is_a_gauge(client, people, workspace):
    from tests.runs.test_log_stream import Stream, token_for

    task = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    TaskRun.objects.create(task=task, number=1, status="IN_PROGRESS")
    token = token_for(people["viewer"])
    read = database_sync_to_async(scrape)

    async def scenario():
        before = await read(client)
        stream = await Stream(f"/api/tasks/{task.pk}/logs/stream", token).start()
        await stream.read_until(lambda e: e and e[0][0] == "init")
        during = await read(client)
        await stream.close()
        return before, during, await read(client)

    before, during, after = asyncio.run(scenario())
    assert value(during, "taskdesk_sse_streams") == value(before, "taskdesk_sse_streams") + 1
    assert value(after, "taskdesk_sse_streams") == value(before, "taskdesk_sse_streams")


def test_webhook_deliveries_are_counted_by_direction_and_outcome(client, workspace, settings):
    import hashlib
    import hmac
    import json

    from integrations import outbound
    from integrations.models import WebhookDelivery, WebhookEndpoint
    from tests.factories import RepositoryFactory

    secret = "metrics-webhook-secret-0123"
    repo = RepositoryFactory(workspace=workspace, webhook_secret=secret)
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    name = "taskdesk_webhook_deliveries_total"
    before = scrape(client)

    def post(sig, delivery="d-1"):
        return client.post(
            f"/api/webhooks/github/{repo.id}",
            body,
            content_type="application/json",
            HTTP_X_GITHUB_EVENT="ping",
            HTTP_X_GITHUB_DELIVERY=delivery,
            HTTP_X_HUB_SIGNATURE_256=sig,
        )

    assert post("sha256=" + "0" * 64).status_code == 401
    assert post(signature).status_code == 202
    assert post(signature).status_code == 200  # the same delivery id again
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url="http://10.0.0.1/hook", events=["task.created"]
    )
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="task.created",
        message_id="msg_m",
        payload={},
        next_attempt_at=timezone.now(),
    )
    assert outbound.attempt(delivery.pk) == "FAILED"  # a private address: refused for good
    after = scrape(client)

    def moved(direction, outcome):
        labels = {"direction": direction, "outcome": outcome}
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("inbound", "invalid_signature") == 1
    assert moved("inbound", "ignored") == 1
    assert moved("inbound", "redelivered") == 1
    assert moved("outbound", "failed") == 1
