"""The `db_worker` process: claims jobs of django-tasks-db's table in batches and runs them
on a pool of threads.

- A round trip claims up to as many READY jobs as the pool has free threads
  (WORKER_CONCURRENCY): on PostgreSQL one UPDATE ... RETURNING whose subquery picks them
  with SKIP LOCKED, in SQLite's exclusive transaction otherwise (after a plain read that
  finds work, so an idle SQLite worker never takes the write lock).
- An idle worker sleeps until a job is enqueued (runs.wakeup: NOTIFY/LISTEN on
  PostgreSQL), a thread frees up, or WORKER_POLL_SECONDS pass.
- SIGTERM or SIGINT: it stops claiming, lets its runs go on for WORKER_GRACE_SECONDS,
  then stops the ones left and puts them back in the queue (runs.worker.requeue_live):
  another worker runs them. A second signal skips the grace.
- A database outage is logged and waited out, never the
  end of the process (under `make run`, honcho would stop the server with it); it tries
  again every RETRY_SECONDS.
- A run's claim hands its outbox batch to a thread of its own
  (realtime.dispatch.BackgroundSender), so the run starts while the claim's events go
  out; on the way out the worker sends what is still queued.
"""

import logging
import re
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import FrameType
from typing import Any

from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connections,
    router,
)
from django.db.models import UUIDField
from django.utils import timezone
from django_tasks_db.compat import task_finished, task_started
from django_tasks_db.models import DBTaskResult, TaskResultStatus, get_date_max
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception, retry

from config.compiled import CompiledUpdate, Slot
from config.dbpool import drop_broken_connection
from realtime import dispatch
from runs import worker as runs_worker
from runs.wakeup import Listener, wakeup_enabled

logger = logging.getLogger("taskdesk.worker")
# Upstream's logger, which `db_worker` sets to its verbosity: "Starting worker" is what
# scripts wait for (bench, tests).
started_logger = logging.getLogger("django_tasks_db")
RETRY_SECONDS = 2.0
SENDER_STOP_SECONDS = 30.0  # the last batches (a push service timing out: 5 s a try)
# The worker's threads that keep a pooled connection besides its job threads: the loop
# that claims, the heartbeats (runs.worker.LiveRuns), the outbox sender and the pulse
# (ops.pulse). The wake-up listener has a connection of its own, outside the pool.
OWN_CONNECTIONS = 4


def fit_pool(concurrency: int) -> None:
    """Makes this process's PostgreSQL pool large enough for its threads, its connections
    planning their prepared statements once. Each job thread keeps its connection from
    job to job; with WORKER_CONCURRENCY above what DATABASE_POOL_SIZE leaves them, the
    threads beyond it waited 30 s for a connection and failed their jobs (seen: 16
    threads on the default pool of 10). A run's ~14 statements go by primary key, where
    one (generic) plan fits every run: planned at each run, as the server's are
    (DATABASE_PLAN_CACHE_MODE), they cost PostgreSQL 6.6 -> 9.5 ms of CPU a run and the
    4-worker bench 123 -> 100 runs a second."""
    wrapper = connections["default"]
    database = wrapper.settings_dict.get("OPTIONS", {})
    pool = database.get("pool")
    if not isinstance(pool, dict):
        return  # SQLite, or no pool
    needed = concurrency + OWN_CONNECTIONS
    planned = database.get("options", "")
    generic = re.sub(r"-c plan_cache_mode=\w+", "-c plan_cache_mode=auto", planned)
    if pool.get("max_size", needed) >= needed and generic == planned:
        return
    if pool.get("max_size", needed) < needed:
        logger.info("Worker pool: %s database connections for %s job threads", needed, concurrency)
        pool["max_size"] = needed
    database["options"] = generic
    wrapper.close()  # if the command opened the pool already, it opens again as set
    wrapper.close_pool()  # type: ignore[attr-defined]


class PoolWorker:
    def __init__(
        self,
        *,
        worker_id: str,
        backend_name: str,
        queue_names: list[str],
        excluded_queue_names: list[str],
        interval: float,
        concurrency: int,
        grace_seconds: float,
        batch: bool = False,
        max_tasks: int | None = None,
    ):
        self.worker_id = worker_id
        self.backend_name = backend_name
        self.queue_names = queue_names
        self.excluded_queue_names = excluded_queue_names
        self.interval = interval
        self.concurrency = concurrency
        self.grace_seconds = grace_seconds
        self.batch = batch
        self.max_tasks = max_tasks
        self.running = True
        self.hurry = threading.Event()  # a second signal: no grace
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.claimed = 0
        self._claim: Claim | None = None

    # -- signals ---------------------------------------------------------------------

    def configure_signals(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
            signal.signal(sig, self.shutdown)

    def shutdown(self, signum: int, frame: FrameType | None) -> None:
        if self.running:
            logger.warning(
                "Worker %s: %s, stopping: no new jobs; running ones get %s s",
                self.worker_id,
                signal.strsignal(signum),
                self.grace_seconds,
            )
            self.running = False
        else:
            logger.warning("Worker %s: %s again, no more grace", self.worker_id, signum)
            self.hurry.set()
        self.wake.set()

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        started_logger.info(
            "Starting worker worker_id=%s queues=%s concurrency=%s wakeup=%s",
            self.worker_id,
            ",".join(self.queue_names),
            self.concurrency,
            "listen" if wakeup_enabled() else f"poll {self.interval} s",
        )
        fit_pool(self.concurrency)
        listener = None
        if wakeup_enabled():
            listener = Listener(self.wake, self.stopping)
            listener.start()
            listener.listening.wait(10)
        sender = dispatch.start_background_sender()  # a run starts while its claim's events go
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="job")
        busy: set[Future[None]] = set()
        try:
            while self.running:
                self.wake.clear()
                free = self.concurrency - len(busy)
                jobs = self.claim_or_wait_out_outage(free) if free else []
                for job in jobs:
                    future = pool.submit(self.run_job, job)
                    busy.add(future)
                    future.add_done_callback(self.freed(busy))
                if self.batch and not jobs and not busy:
                    logger.info("No more tasks to run for worker_id=%s", self.worker_id)
                    break
                if self.max_tasks is not None and self.claimed >= self.max_tasks:
                    break
                if self.running and (len(jobs) < free or not free):
                    self.wake.wait(self.interval)
        finally:
            self.stopping.set()
            self.let_finish(busy)
            pool.shutdown(wait=False, cancel_futures=True)
            sender.stop(timeout=SENDER_STOP_SECONDS)

    def freed(self, busy: set[Future[None]]) -> Any:
        def done(future: Future[None]) -> None:
            busy.discard(future)
            self.wake.set()

        return done

    def let_finish(self, busy: set[Future[None]]) -> None:
        """The grace period, then the runs left are stopped and requeued."""
        deadline = time.monotonic() + self.grace_seconds
        while busy and not self.hurry.is_set() and time.monotonic() < deadline:
            wait(set(busy), timeout=0.2, return_when=FIRST_COMPLETED)
        if busy:
            stopped = runs_worker.requeue_live()
            logger.warning("Worker %s: stopping %s run(s) to requeue them", self.worker_id, stopped)
            wait(set(busy), timeout=60)

    def claim_or_wait_out_outage(self, limit: int) -> list[DBTaskResult]:
        try:
            # The loop keeps its connection, as the job threads do: a checkout from the
            # pool cost each claim two more round trips (its check and an empty statement).
            drop_broken_connection()
            return self.claim(limit)
        except (OperationalError, InterfaceError) as error:
            logger.warning(
                "Worker %s: the database is unreachable (%s); trying again in %s s",
                self.worker_id,
                type(error).__name__,
                RETRY_SECONDS,
            )
            connections.close_all()
            time.sleep(RETRY_SECONDS)
            return []

    def ready_jobs(self) -> Any:
        jobs = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if "*" not in self.queue_names:
            jobs = jobs.filter(queue_name__in=self.queue_names)
        if self.excluded_queue_names:
            jobs = jobs.exclude(queue_name__in=self.excluded_queue_names)
        return jobs

    def claim(self, limit: int) -> list[DBTaskResult]:
        """Up to `limit` READY jobs, RUNNING under this worker's id."""
        db = router.db_for_write(DBTaskResult)
        if connections[db].vendor == "postgresql":
            claimed = self.claim_returning(db, limit)
        else:
            claimed = self.claim_in_transaction(self.ready_jobs(), limit)
        self.claimed += len(claimed)
        return claimed

    def claim_in_transaction(self, jobs: Any, limit: int) -> list[DBTaskResult]:
        """Elsewhere (SQLite): a read and an update in the database's exclusive
        transaction."""
        if connections[jobs.db].vendor == "sqlite" and not jobs.exists():
            return []  # idle: no write lock taken
        try:
            with exclusive_transaction(jobs.db):
                claimed = list(jobs.select_for_update(skip_locked=True)[:limit])
                if claimed:
                    now = timezone.now()
                    DBTaskResult.objects.filter(pk__in=[j.pk for j in claimed]).update(
                        status=TaskResultStatus.RUNNING, started_at=now, worker_ids=[self.worker_id]
                    )
                    for job in claimed:
                        job.status, job.started_at = TaskResultStatus.RUNNING, now
                        job.worker_ids = [self.worker_id]
        except OperationalError as error:
            if is_locked_database_exception(error):
                return []
            raise
        return claimed

    def claim_returning(self, db: str, limit: int) -> list[DBTaskResult]:
        """PostgreSQL: one statement, in autocommit, picks the jobs in the queue's order
        (SKIP LOCKED: another worker's are passed over), marks them RUNNING and returns
        them. A transaction took four round trips (BEGIN, SELECT, UPDATE, COMMIT) between
        a NOTIFY and the run's claim. The statement is written once per worker (`Claim`):
        building it with the ORM and reading its rows as a raw queryset cost 1.6 ms of
        CPU a claim, one claim a run."""
        connection = connections[db]
        if self._claim is None:
            self._claim = Claim(self, connection)
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(self._claim.sql, self._claim.params(now, limit))
            claimed = [self._claim.job(row) for row in cursor.fetchall()]
        # RETURNING keeps no order: the queue's (priority, then age) decides who goes first.
        claimed.sort(key=lambda job: (-job.priority, job.run_after, job.enqueued_at))
        return claimed

    def run_job(self, job: DBTaskResult) -> None:
        """Upstream's Worker.run_task, on a pool thread. The thread keeps its database
        connection from job to job (taking one from the pool costs two round trips: its
        check and its time zone), unless it broke."""
        drop_broken_connection()
        try:
            task = job.task
            backend_type = task.get_backend()
            task_started.send(sender=backend_type, task_result=job.task_result)
            return_value = task.call(*job.task_result.args, **job.task_result.kwargs)
            set_successful(job, return_value)
            task_finished.send(sender=backend_type, task_result=job.task_result)
        except BaseException as error:
            logger.exception("Job %s failed", job.pk)
            try:
                job.set_failed(error)
                task_finished.send(sender=type(job.task.get_backend()), task_result=job.task_result)
            except Exception:
                logger.exception("Could not record the failure of job %s", job.pk)


# A job's success, written as upstream's DBTaskResult.set_successful writes it (the same
# columns, retried the same way), with its UPDATE compiled once (config.compiled): the
# model's save(update_fields=...) built it for every run, 5% of a worker's Python (py-spy).
_SUCCEEDED = CompiledUpdate(lambda: DBTaskResult.objects.filter(pk=Slot("job", UUIDField())))


@retry()
def set_successful(job: DBTaskResult, return_value: Any) -> None:
    job.status = TaskResultStatus.SUCCESSFUL
    job.finished_at = timezone.now()
    job.return_value = return_value
    job.exception_class_path = ""
    job.traceback = ""
    fields = ("status", "return_value", "finished_at", "exception_class_path", "traceback")
    values = {name: getattr(job, name) for name in fields}
    if not _SUCCEEDED.update(values, using=job._state.db or "default", job=job.pk):
        raise DatabaseError("Save with update_fields did not affect any rows.")


class Claim:
    """A worker's claim of READY jobs on PostgreSQL (`PoolWorker.claim_returning`): the
    statement that upstream's `ready()` queryset in the queue's order makes, written once,
    and its rows read as jobs through the fields' converters (the JSON ones)."""

    def __init__(self, worker: PoolWorker, connection: Any):
        table = DBTaskResult._meta.db_table
        self.connection = connection
        self.fields = DBTaskResult._meta.concrete_fields
        self.names = [f.attname for f in self.fields]
        worker_ids = DBTaskResult._meta.get_field("worker_ids")
        self.worker_ids = worker_ids.get_db_prep_save([worker.worker_id], connection)
        self.tail: list[Any] = [worker.backend_name]
        queues = ""
        if "*" not in worker.queue_names:
            queues += " AND queue_name = ANY(%s)"
            self.tail.append(worker.queue_names)
        if worker.excluded_queue_names:
            queues += " AND NOT (queue_name = ANY(%s))"
            self.tail.append(worker.excluded_queue_names)
        columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in self.fields)
        # READY and RUNNING written out: the READY index is partial, and the generic plan
        # of a prepared statement cannot use it for `status = $1`.
        self.sql = (
            f"UPDATE {table} SET status = '{TaskResultStatus.RUNNING}', started_at = %s, "
            f"worker_ids = %s WHERE id IN (SELECT id FROM {table} "
            f"WHERE status = '{TaskResultStatus.READY}' AND (run_after = %s OR run_after <= %s) "
            f"AND backend_name = %s{queues} "
            "ORDER BY priority DESC, run_after ASC, enqueued_at ASC LIMIT %s "
            f"FOR UPDATE SKIP LOCKED) RETURNING {columns}"
        )
        self.converters = []
        for i, field in enumerate(self.fields):
            col = field.get_col(table)
            found = [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]
            if found:
                self.converters.append((i, col, found))

    def params(self, now: Any, limit: int) -> list[Any]:
        return [now, self.worker_ids, get_date_max(), now, *self.tail, limit]

    def job(self, row: tuple[Any, ...]) -> DBTaskResult:
        values = list(row)
        for i, col, converters in self.converters:
            for convert in converters:
                values[i] = convert(values[i], col, self.connection)
        return DBTaskResult.from_db(self.connection.alias, self.names, values)
