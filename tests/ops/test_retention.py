"""Retention deletes what is past its settings, in batches, and keeps everything else."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from ops.retention import apply_retention
from realtime.events import publish
from realtime.models import OutboxEvent
from runs.logs import append_lines
from runs.models import TaskLog, TaskRun
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def test_delivered_outbox_events_past_retention_go_in_batches(settings):
    settings.RETENTION_OUTBOX_DAYS = 7
    settings.RETENTION_BATCH_SIZE = 2
    for n in range(7):
        publish("private-task-r", "e", n)
    events = list(OutboxEvent.objects.order_by("seq"))
    # seq 1-5: delivered 8 days ago; 6: delivered today; 7: never delivered, 30 days old.
    OutboxEvent.objects.filter(pk__in=[e.pk for e in events[:5]]).update(sent_at=days_ago(8))
    OutboxEvent.objects.filter(pk=events[6].pk).update(sent_at=None, created_at=days_ago(30))
    assert apply_retention()["outbox_events"] == 5
    assert list(OutboxEvent.objects.order_by("seq").values_list("seq", flat=True)) == [6, 7]


def test_finished_queue_jobs_past_retention_go_ready_and_recent_ones_stay(settings):
    settings.RETENTION_JOBS_DAYS = 7
    from ops.housekeeping import housekeeping

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    for _ in range(4):
        housekeeping.enqueue()
    old_done, recent_done, old_failed, waiting = DBTaskResult.objects.all()
    DBTaskResult.objects.filter(pk=old_done.pk).update(status="SUCCESSFUL", finished_at=days_ago(8))
    DBTaskResult.objects.filter(pk=recent_done.pk).update(
        status="SUCCESSFUL", finished_at=days_ago(1)
    )
    DBTaskResult.objects.filter(pk=old_failed.pk).update(status="FAILED", finished_at=days_ago(9))
    assert apply_retention()["queue_jobs"] == 2
    assert set(DBTaskResult.objects.values_list("pk", flat=True)) == {recent_done.pk, waiting.pk}


def test_log_lines_of_ended_runs_past_retention_go_a_running_runs_stay(settings, workspace):
    settings.RETENTION_LOG_DAYS = 30
    settings.RETENTION_BATCH_SIZE = 3
    ended = TaskRun.objects.create(
        task=TaskFactory(workspace=workspace), number=1, status="COMPLETED"
    )
    running = TaskRun.objects.create(
        task=TaskFactory(workspace=workspace), number=1, status="IN_PROGRESS"
    )
    recent = TaskRun.objects.create(
        task=TaskFactory(workspace=workspace), number=1, status="FAILED"
    )
    for run in (ended, running, recent):
        append_lines(run, [("stdout", f"line {i}") for i in range(4)])
    TaskLog.objects.filter(run__in=[ended, running]).update(created_at=days_ago(31))
    assert apply_retention()["log_lines"] == 4
    assert not TaskLog.objects.filter(run=ended).exists()
    assert TaskLog.objects.filter(run=running).count() == 4
    assert TaskLog.objects.filter(run=recent).count() == 4


def test_zero_days_keeps_everything(settings):
    settings.RETENTION_OUTBOX_DAYS = 0
    settings.RETENTION_JOBS_DAYS = 0
    settings.RETENTION_LOG_DAYS = 0
    publish("private-task-r", "e", 1)
    OutboxEvent.objects.update(sent_at=days_ago(365))
    assert apply_retention() == {}
    assert OutboxEvent.objects.count() == 1
