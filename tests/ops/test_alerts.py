"""The periodic check: stuck tasks and failure spikes open alerts, shown in the admin's
"Needs attention", /readyz warnings and metrics; they resolve when the condition ends."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ops.alerts import check_alerts
from ops.housekeeping import run_housekeeping
from ops.models import Alert, AlertKind
from runs.models import TaskRun
from tests.factories import RobotFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)


def queued_since(task, minutes):
    run = TaskRun.objects.create(task=task, number=1)
    TaskRun.objects.filter(pk=run.pk).update(created_at=ago(minutes=minutes))
    return run


def test_a_task_queued_too_long_is_stuck_until_a_worker_claims_it(workspace, settings):
    settings.STUCK_PENDING_MINUTES = 10
    stuck = queued_since(TaskFactory(workspace=workspace, title="Stuck one"), 11)
    queued_since(TaskFactory(workspace=workspace), 2)  # not yet
    assert check_alerts() == {"stuck_pending": 1}
    alert = Alert.objects.get()
    assert alert.kind == AlertKind.STUCK_PENDING and alert.run_id == stuck.pk
    assert "'Stuck one' run 1 queued since" in alert.detail and alert.resolved_at is None
    check_alerts()  # still stuck: the same alert, not a second one
    assert Alert.objects.count() == 1

    TaskRun.objects.filter(pk=stuck.pk).update(status="IN_PROGRESS", heartbeat_at=timezone.now())
    assert check_alerts() == {}
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_a_running_run_with_a_stale_heartbeat_needs_attention(workspace, settings):
    settings.STUCK_HEARTBEAT_SECONDS = 120
    task = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    TaskRun.objects.create(
        task=task, number=1, status="IN_PROGRESS", worker_id="box:42", heartbeat_at=ago(seconds=200)
    )
    fresh = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    TaskRun.objects.create(task=fresh, number=1, status="IN_PROGRESS", heartbeat_at=ago(seconds=5))
    assert check_alerts() == {"stale_heartbeat": 1}
    assert "box:42" in Alert.objects.get().detail


def test_a_robot_failing_often_is_a_spike(workspace, settings):
    settings.FAILURE_SPIKE_MIN_RUNS = 4
    settings.FAILURE_SPIKE_PERCENT = 50
    flaky = RobotFactory(workspace=workspace, name="flaky")
    steady = RobotFactory(workspace=workspace, name="steady")
    for robot, statuses in (
        (flaky, ["FAILED", "ERROR", "COMPLETED", "FAILED"]),
        (steady, ["COMPLETED", "COMPLETED", "FAILED", "COMPLETED"]),
    ):
        for status in statuses:
            TaskRun.objects.create(
                task=TaskFactory(workspace=workspace, robot=robot),
                number=1,
                status=status,
                finished_at=ago(minutes=5),
            )
    assert check_alerts() == {"failure_spike": 1}
    alert = Alert.objects.get()
    assert alert.robot == flaky and "3 of 4 runs failed" in alert.detail


def test_a_stuck_task_appears_in_needs_attention(client, workspace, settings):
    settings.STUCK_PENDING_MINUTES = 10
    queued_since(TaskFactory(workspace=workspace, title="Waiting forever"), 30)
    resolved = Alert.objects.create(
        kind=AlertKind.STUCK_PENDING,
        detail="Old news",
        last_seen_at=ago(days=1),
        resolved_at=ago(hours=1),
    )
    run_housekeeping()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get("/admin/ops/alert/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Needs attention" in html and "Waiting forever" in html
    assert "Old news" not in html  # open alerts only, by default
    assert "Old news" in client.get("/admin/ops/alert/?state=resolved").content.decode()
    assert resolved.resolved_at


def test_readyz_and_metrics_show_the_stuck_task(client, workspace, settings):
    from runs import presence
    from tests.ops.scrape import scrape, value

    presence.beat("w")
    settings.STUCK_PENDING_MINUTES = 10
    queued_since(TaskFactory(workspace=workspace), 30)
    check_alerts()
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["warnings"] == [{"kind": "stuck_pending", "count": 1}]
    assert value(scrape(client), "taskdesk_alerts_open", kind="stuck_pending") == 1


def test_an_opened_alert_goes_to_its_workspaces_webhook_endpoints_once(workspace, settings):
    from integrations.models import WebhookDelivery, WebhookEndpoint

    settings.STUCK_PENDING_MINUTES = 10
    listening = WebhookEndpoint.objects.create(
        workspace=workspace, url="https://hooks.example.com/a", events=["alert.opened"]
    )
    WebhookEndpoint.objects.create(
        workspace=workspace, url="https://hooks.example.com/b", events=["task.created"]
    )
    stuck = TaskFactory(workspace=workspace, title="Stuck one")
    queued_since(stuck, 11)
    check_alerts()
    check_alerts()  # the same alert holds: nothing new to tell
    [delivery] = WebhookDelivery.objects.all()
    assert delivery.endpoint == listening and delivery.event == "alert.opened"
    data = delivery.payload["data"]
    assert data["kind"] == "stuck_pending" and data["taskId"] == str(stuck.pk)
    assert "'Stuck one' run 1 queued since" in data["detail"]
