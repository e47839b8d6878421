"""Execution throughput: scripted runs per second with 1, 2 and 4 real `db_worker`
processes, and the double-run count.

For each worker count: the workers start and go idle; then one transaction queues a run
on each of `runs` fresh tasks (a scripted robot: three log lines and one assistant
message), and the clock runs from that commit until the last run has finished
(`finished_at`, written by the workers). A run executed twice would leave its task with
more log lines than one execution writes (as counted on the floor's tasks) or more than one
assistant message: those tasks are counted.

Two floors. In-process: the same work with no queue and no processes, `execute_run`
called in this process, one run after another (one worker without polling, claiming or
IPC). SQL (bench/sql_floor.py): the statements of one such run, recorded, replayed for
each run of a count through psycopg from as many processes as the count has workers: what
the workers' runs per second cannot exceed with this SQL on this machine.

Latency (`run_message_latency`, with the server running): one idle `db_worker`; a USER
message is POSTed to a task of the echo robot; the clock runs from just before the POST
to (a) the run's first log line at an SSE client (`/logs/stream?after=`, opened when the
POST returns: the stream stays open only while a run is queued or running) and (b) the
robot's ASSISTANT `new-message` at a real pusher-js client. Once with the wake-up
(NOTIFY/LISTEN), once with polling only (WORKER_WAKEUP=false, the 0.5 s poll `make run`
used before the wake-up). Beside them, where the time went: when the USER message, its
run's creation and claim, and the answer were stamped in their rows.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sql_floor
from api import percentiles
from delivery import pusher_clients

ROOT = Path(__file__).resolve().parent.parent


def run_execution(
    env: dict[str, str], dsn: str, runs: int, worker_counts: tuple[int, ...] = (1, 2, 4)
) -> dict[str, Any]:
    from django.db import transaction

    from runs.services import queue_run
    from runs.worker import execute_run

    settle_generated_queue()
    # One recorded run per replaying process, each with counter rows of its own.
    recorded = create_tasks("recorded", max(worker_counts))
    with transaction.atomic():
        queued = [queue_run(task).pk for task in recorded]
    drop_queued_jobs()
    recordings = [sql_floor.record_run(run, slot) for slot, run in enumerate(queued)]
    recording = recordings[0]
    # The floor: one process, no queue.
    tasks = create_tasks("floor", runs)
    with transaction.atomic():
        queued = [queue_run(task).pk for task in tasks]
    drop_queued_jobs()  # executed here, not by the workers started below
    started = time.perf_counter()
    for run_id in queued:
        execute_run(str(run_id))
    floor_seconds = time.perf_counter() - started
    lines_per_run = max(lines_and_answers(tasks).values())[0]
    result: dict[str, Any] = {
        "runs": runs,
        "floor_runs_per_s": round(runs / floor_seconds, 1),
        "log_lines_per_run": lines_per_run,
        "sql_statements_per_run": recording.statements,
        "workers": [],
    }
    print(
        f"Execution: {runs} runs; in-process floor {result['floor_runs_per_s']} runs/s; "
        f"SQL floor: {recording.statements} statements a run"
    )
    for count in worker_counts:
        settle_generated_queue()
        floor_row = replay_floor(dsn, recordings, runs, count, lines_per_run)
        print(
            f"  SQL floor, {count} process(es): {floor_row['runs_per_s']} runs/s, "
            f"{floor_row['incomplete']} not COMPLETED"
        )
        # Again before each count: ten minutes after a stamp, the workers' housekeeping
        # reports the generated queue as stuck (up to 500 alerts a minute per worker, seen
        # in the 4-worker count of a run on a slow machine).
        settle_generated_queue()
        tasks = create_tasks(f"w{count}", runs)
        workers = start_workers(count, env)
        cpu = CpuUse([worker.pid for worker in workers])
        try:
            with transaction.atomic():
                # First of the on-commit hooks: the clock starts at the commit.
                transaction.on_commit(cpu.start)
                queued = [queue_run(task).pk for task in tasks]
            seconds = wait_finished(queued, cpu.started_at)
            used = cpu.per_run_ms(runs)
        finally:
            stop_workers(workers)
        row = {
            "workers": count,
            "runs_per_s": round(runs / seconds, 1),
            "seconds": round(seconds, 3),
            "double_runs": double_runs(tasks, lines_per_run),
            "incomplete": incomplete(queued),
            "cpu_ms_per_run": used,
            "sql_floor": floor_row,
        }
        row["ratio_to_floor"] = round(row["runs_per_s"] / result["floor_runs_per_s"], 2)
        row["ratio_to_sql_floor"] = round(row["runs_per_s"] / floor_row["runs_per_s"], 2)
        print(
            f"  {count} worker(s): {row['runs_per_s']} runs/s, "
            f"{row['double_runs']} double runs, {row['incomplete']} not COMPLETED"
        )
        result["workers"].append(row)
    return result


def replay_floor(
    dsn: str,
    recordings: list[sql_floor.Recording],
    runs: int,
    processes: int,
    lines_per_run: int,
) -> dict[str, Any]:
    """The recorded run replayed for `runs` fresh runs from `processes` processes; each
    replayed run is checked as the workers' are (COMPLETED, its lines, one answer)."""
    from django.db import transaction

    from runs.services import queue_run

    tasks = create_tasks(f"sql{processes}", runs)
    with transaction.atomic():
        queued = [queue_run(task).pk for task in tasks]
    drop_queued_jobs()
    pairs = [(str(run), str(task.pk)) for run, task in zip(queued, tasks, strict=True)]
    children = sql_floor.start(dsn, recordings, pairs, processes, ROOT / "var")
    cpu = CpuUse([child.pid for child in children])
    cpu.start()
    started = time.perf_counter()
    try:
        sql_floor.go(children)
        sql_floor.wait_done(children)
        seconds = time.perf_counter() - started
        used = cpu.per_run_ms(runs)
    finally:
        sql_floor.finish(children)
    counted = lines_and_answers(tasks).values()
    return {
        "runs_per_s": round(runs / seconds, 1),
        "seconds": round(seconds, 3),
        "incomplete": incomplete(queued)
        + sum(1 for lines, answers in counted if lines != lines_per_run or answers != 1),
        "cpu_ms_per_run": used,
    }


class CpuUse:
    """The CPU time the machine spent from `start` to `per_run_ms`, per run, split by
    process: the workers, PostgreSQL, this process (which queued the runs and, holding
    their workspace channel's lease first, sends most of their events, as the server
    would), and the rest; with `ceiling`, the runs per second the machine's cores would
    give at that cost. Read from Linux's /proc; elsewhere, None."""

    def __init__(self, worker_pids: list[int]):
        self.workers = {str(pid) for pid in worker_pids}
        self.before: dict[str, float] = {}
        self.started_at = 0.0

    @staticmethod
    def busy() -> float | None:
        try:
            with open("/proc/stat") as stat:
                ticks = [int(n) for n in stat.readline().split()[1:9]]
        except OSError:
            return None
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # not idle

    def by_process(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    command = cmdline.read()
            except (OSError, IndexError):
                continue  # not a process, or it ended
            if pid in self.workers:
                kind = "workers"
            elif command.startswith(b"postgres"):
                kind = "postgresql"
            elif pid == str(os.getpid()):
                kind = "bench"
            else:
                continue
            ticks = int(fields[11]) + int(fields[12])  # utime, stime
            used[kind] = used.get(kind, 0.0) + ticks / os.sysconf("SC_CLK_TCK")
        return used

    def start(self) -> None:
        self.started_at = time.time()
        machine = self.busy()
        if machine is not None:
            self.before = {**self.by_process(), "machine": machine}

    def per_run_ms(self, runs: int) -> dict[str, float] | None:
        machine = self.busy()
        if machine is None or not self.before:
            return None
        after = {**self.by_process(), "machine": machine}
        used = {kind: after[kind] - self.before.get(kind, 0.0) for kind in after}
        used["other"] = used["machine"] - sum(v for k, v in used.items() if k != "machine")
        per_run = {kind: round(1000 * seconds / runs, 2) for kind, seconds in used.items()}
        per_run["ceiling_runs_per_s"] = round(1000 * (os.cpu_count() or 1) / per_run["machine"], 1)
        return per_run


def settle_generated_queue() -> None:
    """The generated runs that are queued or running stand for a live queue: stamped now,
    so the reaper that every run schedules leaves them alone while we measure (it would
    otherwise end or restart tens of thousands of them). Events an interrupted bench
    left unsent would hold up their channels: they count as sent. Then the tables runs
    write to are vacuumed, as autovacuum would (`vacuum_churned`)."""
    from django.utils import timezone

    from realtime.models import OutboxEvent
    from runs.models import TaskRun
    from tasks.models import WorkflowStatus

    now = timezone.now()
    TaskRun.objects.filter(status=WorkflowStatus.IN_PROGRESS).update(heartbeat_at=now)
    TaskRun.objects.filter(status=WorkflowStatus.PENDING).update(created_at=now)
    OutboxEvent.objects.filter(sent_at__isnull=True).update(sent_at=now)
    vacuum_churned()


# The tables a count's runs write to.
CHURNED = (
    "django_tasks_database_dbtaskresult",
    "realtime_outboxchannel",
    "realtime_outboxevent",
    "tasks_taskcount",
    "tasks_taskdaycount",
    "tasks_task",
    "tasks_taskrun",
    "tasks_tasklog",
    "chat_chatmessage",
)


def vacuum_churned() -> None:
    """What autovacuum does on a production server, done before each measurement: the dead
    rows of the last count cleaned and the statistics fresh. The PostgreSQL of the
    machines this project runs on has autovacuum off (its conf.d/90-ci.conf); without
    this, each count ran on the previous ones' dead rows (the jobs' READY index held
    30,000 dead entries after four counts; a claim read them all) and stale statistics:
    4 workers gave 32-35 runs/s before a VACUUM and 38-40 after it."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(CHURNED)}")


def create_tasks(label: str, count: int) -> list[Any]:
    from accounts.models import Workspace
    from tasks import counters
    from tasks.models import Robot, Task

    workspace = Workspace.objects.get(slug="ws1")
    robot = Robot.objects.create(workspace=workspace, name=f"bench-{label}-{time.time_ns()}")
    tasks = Task.objects.bulk_create(
        Task(workspace=workspace, robot=robot, title=f"bench {label} {n}") for n in range(count)
    )
    counters.record((), [counters.fact_of(task) for task in tasks])
    return tasks


def drop_queued_jobs() -> None:
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.filter(status="READY").delete()


def start_workers(
    count: int, env: dict[str, str], interval: float = 0.05
) -> list[subprocess.Popen[bytes]]:
    """`count` db_workers, returned once each is idle and polling. Their output goes to
    var/bench-worker-N.log (a pipe nobody reads would fill up and stop them)."""
    logs = [ROOT / "var" / f"bench-worker-{n}.log" for n in range(count)]
    workers = []
    for n, log in enumerate(logs):
        with log.open("wb") as output:
            workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "manage.py",
                        "db_worker",
                        "--interval",
                        str(interval),
                        "--no-reload",
                        "--no-startup-delay",
                        "--worker-id",
                        f"bench-{n}-{os.getpid()}",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )
    deadline = time.monotonic() + 60
    while not all(b"Starting worker" in log.read_bytes() for log in logs):
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            stop_workers(workers)
            raise RuntimeError(f"a db_worker did not start; see {logs[0].parent}/bench-worker-*")
        time.sleep(0.05)
    return workers


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGINT)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def wait_finished(run_ids: list[Any], committed: float, timeout: float = 600) -> float:
    """Seconds from the commit to the last run's finished_at."""
    from django.db.models import Max

    from runs.models import TaskRun

    runs = TaskRun.objects.filter(pk__in=run_ids)
    deadline = time.monotonic() + timeout
    while runs.filter(finished_at__isnull=True).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("runs did not finish within the bench's time limit")
        time.sleep(0.05)
    last = runs.aggregate(last=Max("finished_at"))["last"]
    return float(last.timestamp() - committed)


def double_runs(tasks: list[Any], lines_per_run: int) -> int:
    """Tasks whose run left more than one execution's lines or messages."""
    return sum(
        1
        for lines, answers in lines_and_answers(tasks).values()
        if lines > lines_per_run or answers > 1
    )


def lines_and_answers(tasks: list[Any]) -> dict[Any, tuple[int, int]]:
    from django.db.models import Count, Q

    from chat.models import ChatRole
    from tasks.models import Task

    counted = Task.objects.filter(pk__in=[t.pk for t in tasks]).annotate(
        lines=Count("logs", distinct=True),
        answers=Count(
            "chat_messages", filter=Q(chat_messages__role=ChatRole.ASSISTANT), distinct=True
        ),
    )
    return {t.pk: (t.lines, t.answers) for t in counted}


def incomplete(run_ids: list[Any]) -> int:
    from runs.models import TaskRun
    from tasks.models import WorkflowStatus

    return TaskRun.objects.filter(pk__in=run_ids).exclude(status=WorkflowStatus.COMPLETED).count()


# -- message latency -------------------------------------------------------------------------

POLL_BASELINE_SECONDS = 0.5  # `make run`'s poll before the wake-up (Procfile)
WARM_UP = 2


def run_message_latency(
    *, server_url: str, token: str, env: dict[str, str], messages: int
) -> dict[str, Any]:
    """Message to first log line (SSE) and to the answer (pusher-js), p50/p99 in ms, with the
    wake-up and with polling only; one idle worker publishing into the bench server's Redis
    layer, as in deploy/compose.yaml."""
    publishing = {**env, "REALTIME_PUBLISHER": "layer"}
    # An idle worker: the generated queue's year-old runs would otherwise be reaped (and
    # restarted) by the first reaper round, on the measured worker: a tail of 15-17 s.
    settle_generated_queue()
    result: dict[str, Any] = {"messages": messages}
    print(f"Latency: {messages} messages, one idle worker, with the wake-up and polling only")
    for label, wakeup, interval in (
        ("wakeup", "true", 5.0),
        ("polling", "false", POLL_BASELINE_SECONDS),
    ):
        workers = start_workers(1, {**publishing, "WORKER_WAKEUP": wakeup}, interval=interval)
        try:
            row = message_latency(server_url, token, messages)
        finally:
            stop_workers(workers)
        row["poll_seconds"] = interval
        result[label] = row
        print(
            f"  {label:<8} first log line p50 {row['log_ms']['p50']:.1f} ms "
            f"p99 {row['log_ms']['p99']:.1f} ms; answer p50 {row['answer_ms']['p50']:.1f} ms "
            f"p99 {row['answer_ms']['p99']:.1f} ms; "
            f"{row['repeated_events']} event(s) heard again or late"
        )
    return result


def message_latency(server_url: str, token: str, messages: int) -> dict[str, Any]:
    from accounts.models import Workspace
    from realtime.events import task_channel, workspace_channel
    from realtime.models import OutboxEvent
    from runs.models import TaskRun
    from tasks.models import Task

    workspace = Workspace.objects.get(slug="ws0")
    task = Task.objects.create(workspace=workspace, title="bench latency")
    channels = [task_channel(task.pk), workspace_channel(workspace.slug)]
    log_ms: list[float] = []
    answer_ms: list[float] = []
    stamped: dict[str, list[float]] = {name: [] for name in PHASES}
    # Delivery is at least once: an event heard again, a message's own event heard after
    # its answer, or an answer that is not this message's (an earlier one's, heard late)
    # is counted and never taken for this message's answer (which would shift every later
    # figure by one message).
    heard: set[str] = set()
    ours: set[str] = set()  # the USER messages posted
    repeats = 0
    with pusher_clients(server_url, token, task_channel(task.pk), 1, "new-message") as listener:
        for n in range(messages + WARM_UP):
            after = Task.objects.values_list("log_seq", flat=True).get(pk=task.pk)
            started = time.time() * 1000
            asked = post_message(server_url, token, task.pk, f"bench {n}")
            ours.add(asked)
            first_line = FirstLogLine(server_url, token, task.pk, after)
            first_line.start()
            while True:
                line = listener.next_line()
                if line["type"] != "event":
                    continue
                if line["data"] in heard or (line["data"] in ours and line["data"] != asked):
                    repeats += 1
                    continue
                heard.add(line["data"])
                if line["data"] not in ours:
                    if line["data"] != answer_to(task.pk, asked):
                        repeats += 1  # an earlier message's answer, heard late
                        continue
                    answered = float(line["at"])
                    break
            logged = first_line.wait()
            # The next message goes to an idle worker: this run ended and its events
            # were sent (its last ones go out after the end commits).
            deadline = time.monotonic() + 30
            while (
                TaskRun.objects.filter(task=task).active().exists()
                or OutboxEvent.objects.filter(channel__in=channels, sent_at=None).exists()
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError("a latency run did not end")
                time.sleep(0.002)
            if n >= WARM_UP:
                log_ms.append(logged - started)
                answer_ms.append(answered - started)
                for name, at in stamps(task, asked).items():
                    stamped[name].append(at * 1000 - started)
    return {
        "log_ms": percentiles(log_ms),
        "answer_ms": percentiles(answer_ms),
        "phases_ms": {name: percentiles(values)["p50"] for name, values in stamped.items()},
        "repeated_events": repeats,
    }


# Where a message's time goes, from the rows it leaves (each stamped inside its
# transaction, before its commit): no tracing code in the server or the worker.
PHASES = ("message stored", "run queued", "run claimed", "answer written")


def stamps(task: Any, message_id: str) -> dict[str, float]:
    """When this message's rows were stamped (epoch seconds): the USER message, its run's
    creation and claim, the robot's answer."""
    from chat.models import ChatMessage, ChatRole
    from runs.models import TaskRun

    stored = ChatMessage.objects.values_list("timestamp", flat=True).get(pk=message_id)
    queued, claimed = (
        TaskRun.objects.filter(task=task)
        .order_by("-number")
        .values_list("created_at", "started_at")[0]
    )
    answer = (
        ChatMessage.objects.filter(task=task, role=ChatRole.ASSISTANT)
        .order_by("-timestamp")
        .values_list("timestamp", flat=True)
    )
    moments = dict(zip(PHASES, (stored, queued, claimed, answer[0]), strict=True))
    return {name: at.timestamp() for name, at in moments.items() if at is not None}


def answer_to(task_id: Any, asked: str) -> str | None:
    """The id of the robot's answer to the message `asked`: the task's first ASSISTANT
    message after it (the next message is posted once this one's run has ended)."""
    from chat.models import ChatMessage

    asked_at = ChatMessage.objects.values_list("timestamp", flat=True).get(pk=asked)
    first = (
        ChatMessage.objects.filter(task_id=task_id, role="ASSISTANT", timestamp__gt=asked_at)
        .order_by("timestamp", "id")
        .values_list("id", flat=True)
        .first()
    )
    return None if first is None else str(first)


def post_message(server_url: str, token: str, task_id: Any, text: str) -> str:
    parts = urlsplit(server_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request(
            "POST",
            "/api/chat/message",
            json.dumps({"taskId": str(task_id), "message": text}),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        body = json.loads(response.read())
        if response.status != 201:
            raise RuntimeError(f"POST /api/chat/message: {response.status} {body}")
        return str(body["message"]["id"])
    finally:
        conn.close()


class FirstLogLine(threading.Thread):
    """Opens the task's SSE log stream after `after` and notes when its first `log` event
    arrives (epoch ms)."""

    def __init__(self, server_url: str, token: str, task_id: Any, after: int):
        super().__init__(daemon=True)
        self.parts = urlsplit(server_url)
        self.path = f"/api/tasks/{task_id}/logs/stream?after={after}"
        self.token = token
        self.at: float | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        conn = http.client.HTTPConnection(
            self.parts.hostname or "127.0.0.1", self.parts.port, timeout=30
        )
        try:
            conn.request(
                "GET",
                self.path,
                headers={"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"},
            )
            response = conn.getresponse()
            if response.status != 200:
                raise RuntimeError(f"log stream: {response.status}")
            while self.at is None:
                raw = response.fp.readline()
                if not raw:
                    raise RuntimeError("the log stream ended before a log line")
                if raw.startswith(b"event: log"):
                    self.at = time.time() * 1000
        except BaseException as error:  # reported by wait()
            self.error = error
        finally:
            conn.close()

    def wait(self) -> float:
        self.join(30)
        if self.at is None:
            raise RuntimeError(f"no log line at the SSE client: {self.error}")
        return self.at
