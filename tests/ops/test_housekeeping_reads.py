"""The housekeeping job reads what it acts on, not its tables (PostgreSQL): each minute,
retention's scans of the outbox, of the finished jobs and of the log lines, and the
failure-spike alert's runs of its window, went through every row when nothing was old
(at 1M tasks: 324 ms for the outbox, 242 for the log lines, 116-173 for the runs). Their
indexes (outbox_sent_idx, dbtaskresult_finished_idx, tasklog_created_idx,
taskrun_finished_idx) make a pass read the rows it deletes or counts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from ops.housekeeping import run_housekeeping
from realtime.models import OutboxEvent
from runs.models import TaskLog, TaskRun
from tests.factories import RobotFactory, TaskFactory
from tests.plans import executed_plans, rows_read

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

RECENT = 3000  # rows of each table that no pass touches
TABLES = (
    "realtime_outboxevent",
    "django_tasks_database_dbtaskresult",
    "tasks_tasklog",
    "tasks_taskrun",
)


def test_a_housekeeping_pass_reads_the_old_rows_not_the_tables(settings, workspace):
    settings.RETENTION_OUTBOX_DAYS = 7
    settings.RETENTION_LOG_DAYS = 30
    settings.RETENTION_JOBS_DAYS = 7
    settings.FAILURE_SPIKE_WINDOW_MINUTES = 60
    now = timezone.now()
    # Old rows last: in id order, a scan meets every recent row before them.
    OutboxEvent.objects.bulk_create(
        OutboxEvent(channel="private-task-x", event="e", data={}, seq=n + 1, sent_at=sent)
        for n, sent in enumerate(
            [now - timedelta(hours=1)] * RECENT + [now - timedelta(days=8)] * 3
        )
    )
    DBTaskResult.objects.bulk_create(
        DBTaskResult(
            status="SUCCESSFUL",
            finished_at=finished,
            args_kwargs={"args": [], "kwargs": {}},
            task_path="ops.housekeeping.housekeeping",
            backend_name="default",
            run_after=finished,
        )
        for finished in [now - timedelta(hours=1)] * RECENT + [now - timedelta(days=8)] * 2
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
    with connection.cursor() as cursor:  # the alerts join the runs to their tasks
        cursor.execute(f"ANALYZE {', '.join(TABLES)}, tasks_task")

    with executed_plans() as plans:
        done = run_housekeeping()

    assert done["deleted"] == {"outbox_events": 3, "queue_jobs": 2, "log_lines": 2}
    assert OutboxEvent.objects.count() == RECENT and TaskLog.objects.count() == RECENT
    assert DBTaskResult.objects.count() == RECENT
    assert done["alerts"] == {}
    read = {table: sum(rows_read(plan["Plan"], table) for plan in plans) for table in TABLES}
    # The statements that read more, with their plans, to say which one if this fails.
    culprits = [
        (plan["Query Text"][:200], plan["Plan"])
        for plan in plans
        if any(rows_read(plan["Plan"], table) > 10 for table in TABLES)
    ]
    # The rows deleted, read by their batch's SELECT and by its DELETE (and the run of the
    # old lines); by a scan of the table, 3,000 rows or more.
    assert all(rows <= 10 for rows in read.values()), (read, culprits)
