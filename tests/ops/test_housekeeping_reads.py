"""The housekeeping job reads what it acts on, not its tables (PostgreSQL): each minute,
retention's scans of the outbox and of the log lines, and the failure-spike alert's runs
of its window, went through every row when nothing was old (at 1M tasks: 324, 242 and
116-173 ms). Their indexes (outbox_sent_idx, tasklog_created_idx, taskrun_finished_idx)
make a pass read the rows it deletes or counts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from ops.housekeeping import run_housekeeping
from realtime.models import OutboxEvent
from runs.models import TaskLog, TaskRun
from tests.factories import RobotFactory, TaskFactory
from tests.plans import executed_plans, rows_read

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

RECENT = 3000  # rows of each table that no pass touches


def test_a_housekeeping_pass_reads_the_old_rows_not_the_tables(settings, workspace):
    settings.RETENTION_OUTBOX_DAYS = 7
    settings.RETENTION_LOG_DAYS = 30
    settings.FAILURE_SPIKE_WINDOW_MINUTES = 60
    now = timezone.now()
    # Old rows last: in id order, a scan meets every recent row before them.
    OutboxEvent.objects.bulk_create(
        OutboxEvent(channel="private-task-x", event="e", data={}, seq=n + 1, sent_at=sent)
        for n, sent in enumerate(
            [now - timedelta(hours=1)] * RECENT + [now - timedelta(days=8)] * 3
        )
    )
    task = TaskFactory(workspace=workspace, robot=RobotFactory(workspace=workspace))
    runs = TaskRun.objects.bulk_create(
        TaskRun(task=task, number=n + 1, status="COMPLETED", finished_at=now - timedelta(days=2))
        for n in range(RECENT)
    )
    TaskLog.objects.bulk_create(
        TaskLog(task=task, run=runs[0], seq=n + 1, line=f"line {n}") for n in range(RECENT + 2)
    )
    old_lines = TaskLog.objects.filter(seq__gt=RECENT)
    old_lines.update(created_at=now - timedelta(days=31))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE realtime_outboxevent, tasks_tasklog, tasks_taskrun")

    with executed_plans() as plans:
        done = run_housekeeping()

    assert done["deleted"] == {"outbox_events": 3, "queue_jobs": 0, "log_lines": 2}
    assert OutboxEvent.objects.count() == RECENT and TaskLog.objects.count() == RECENT
    assert done["alerts"] == {}
    read = {
        table: sum(rows_read(plan["Plan"], table) for plan in plans)
        for table in ("realtime_outboxevent", "tasks_tasklog", "tasks_taskrun")
    }
    # The rows deleted, read by their batch's SELECT and by its DELETE (and the run of the
    # old lines); by a scan of the table, 3,000 rows or more.
    assert all(rows <= 10 for rows in read.values()), read
