"""The worker's claim of queued jobs (runs.worker_pool.PoolWorker.claim): up to the free
threads' number of READY jobs, in the queue's order, marked RUNNING under the worker's id;
on PostgreSQL in one statement, passing over the jobs another worker holds."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from runs.models import TaskRun
from runs.services import queue_run
from runs.worker import run_task
from runs.worker_pool import PoolWorker
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    return PoolWorker(
        worker_id="host:1",
        backend_name="default",
        queue_names=["*"],
        excluded_queue_names=[],
        interval=1,
        concurrency=4,
        grace_seconds=1,
    )


def enqueue(number: int, priority: int = 0) -> str:
    return str(run_task.using(priority=priority).enqueue(f"run-{number}").id)


def test_a_claim_takes_the_oldest_jobs_of_the_highest_priority_and_marks_them(worker):
    oldest, newer, urgent = enqueue(1), enqueue(2), enqueue(3, priority=10)
    with CaptureQueriesContext(connection) as queries:
        claimed = worker.claim(2)
    assert [str(job.pk) for job in claimed] == [urgent, oldest]
    if connection.vendor == "postgresql":  # one UPDATE ... RETURNING, no transaction
        assert len(queries) == 1, [q["sql"] for q in queries]
    for job in claimed:
        assert (job.status, job.worker_ids, job.args_kwargs["args"][0][:4]) == (
            "RUNNING",
            ["host:1"],
            "run-",
        )
        stored = DBTaskResult.objects.get(pk=job.pk)
        assert (stored.status, stored.worker_ids) == ("RUNNING", ["host:1"])
        assert stored.started_at == job.started_at is not None
    assert [str(job.pk) for job in worker.claim(4)] == [newer]
    assert worker.claim(4) == []
    assert worker.claimed == 3


def test_a_job_not_yet_due_is_not_claimed(worker):
    run_task.using(run_after=timezone.now() + timedelta(hours=1)).enqueue("later")
    assert worker.claim(4) == []


@pytest.mark.postgres_only
def test_jobs_another_worker_holds_are_passed_over(worker):
    held, free = enqueue(1), enqueue(2)
    holding, done = threading.Event(), threading.Event()

    def other_worker() -> None:  # inside its claim: the job's row locked
        try:
            with transaction.atomic():
                list(DBTaskResult.objects.select_for_update().filter(pk=held))
                holding.set()
                assert done.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert holding.wait(10)
        assert [str(job.pk) for job in worker.claim(4)] == [free]
    finally:
        done.set()
        thread.join(10)
    assert DBTaskResult.objects.get(pk=held).status == "READY"


def test_a_claim_takes_only_the_workers_queues(worker, settings):
    """`db_worker --queue-name` and `--exclude-queue-name`: the claim's statement filters
    on them (on PostgreSQL written once per worker)."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "mail"]}
    }
    default = str(run_task.enqueue("run-1").id)
    mail = str(run_task.using(queue_name="mail").enqueue("run-2").id)
    worker.queue_names = ["mail"]
    assert [str(job.pk) for job in worker.claim(4)] == [mail]
    other = PoolWorker(
        worker_id="host:2",
        backend_name="default",
        queue_names=["*"],
        excluded_queue_names=["mail"],
        interval=1,
        concurrency=4,
        grace_seconds=1,
    )
    assert [str(job.pk) for job in other.claim(4)] == [default]
    assert worker.claim(4) == other.claim(4) == []


def test_a_job_ends_as_upstream_records_it_successful_or_failed(worker, workspace):
    """A job's success is the compiled UPDATE of upstream's columns (runs.worker_pool
    .set_successful); a job that raises is recorded by upstream's set_failed."""
    run = queue_run(TaskFactory(workspace=workspace, title="Fix the login"))
    broken = enqueue(1)  # not a run's id: the job raises
    jobs = {str(job.pk): job for job in worker.claim(4)}
    (done,) = [pk for pk in jobs if pk != broken]
    with CaptureQueriesContext(connection) as queries:
        worker.run_job(jobs[done])
    ends = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "django_tasks_database')]
    assert len(ends) == 1 and "'SUCCESSFUL'" in ends[0]
    stored = DBTaskResult.objects.get(pk=done)
    assert (stored.status, stored.return_value, stored.traceback) == ("SUCCESSFUL", "COMPLETED", "")
    assert stored.finished_at is not None and stored.finished_at >= stored.started_at
    assert TaskRun.objects.get(pk=run.pk).status == "COMPLETED"
    worker.run_job(jobs[broken])
    failed = DBTaskResult.objects.get(pk=broken)
    assert failed.status == "FAILED" and failed.finished_at is not None
    assert failed.exception_class_path == "django.core.exceptions.ValidationError"
