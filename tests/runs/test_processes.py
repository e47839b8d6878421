"""Real processes on PostgreSQL: one daphne server and two `db_worker`s.

Collected only when DATABASE_URL is PostgreSQL (marker `postgres_only`, deselected in
tests/execution/conftest.py otherwise): SQLite has no SKIP LOCKED and one writer.
"""

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from accounts.models import ApiToken
from runs.models import TaskLog, TaskRun
from runs.services import queue_run
from tasks.models import Task
from tests.factories import RepositoryFactory, RobotFactory, TaskFactory, TaskGroupFactory

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
RACED = 500  # tasks whose runs the two workers race for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def stack(tmp_path):
    """Server + 2 workers on this test's database; stale runs after 3 s."""
    db = connection.settings_dict
    logs = contextlib.ExitStack()
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",  # the product's, not the test run's
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PORT": str(port),
        "STALE_RUN_SECONDS": "3",
        "RUN_HEARTBEAT_SECONDS": "1",
        "REAPER_INTERVAL_SECONDS": "1",
        # SIGTERM: a run goes on 2 s, then is stopped and requeued.
        "WORKER_GRACE_SECONDS": "2",
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        # One user starts 500 runs in seconds here: the run-starting throttle is not
        # what these tests are about.
        "THROTTLE_RUNS": "100000/min",
    }
    procs = {
        "server": subprocess.Popen(
            [
                str(Path(PYTHON).parent / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "config.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=logs.enter_context((tmp_path / "server.log").open("w")),
            stderr=subprocess.STDOUT,
        )
    }
    for name in ("worker1", "worker2"):
        procs[name] = subprocess.Popen(
            [
                PYTHON,
                "manage.py",
                "db_worker",
                "--interval",
                "0.1",
                "--no-reload",
                "--no-startup-delay",
                "--worker-id",
                name,
            ],
            cwd=ROOT,
            env=env,
            stdout=logs.enter_context((tmp_path / f"{name}.log").open("w")),
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
            break
        except OSError:
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
    yield {"url": f"http://127.0.0.1:{port}", "procs": procs}
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in procs.values():
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    logs.close()


def post(url: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_500_tasks_on_two_workers_each_run_exactly_once(stack, people, workspace):
    token = ApiToken.issue(people["developer"], "processes")[1]
    groups = [TaskGroupFactory(workspace=workspace) for _ in range(5)]
    tasks = [
        TaskFactory(workspace=workspace, group=groups[i % 5] if i % 2 else None)
        for i in range(RACED)
    ]
    for task in tasks:
        status, body = post(f"{stack['url']}/api/tasks/{task.pk}/retry", token)
        assert status == 202, body
    wait_for(
        lambda: Task.objects.filter(workflow_status="COMPLETED").count() == RACED,
        300,
        f"{RACED} completed tasks",
    )
    runs = list(
        TaskRun.objects.values(
            "task_id", "number", "status", "worker_id", "started_at", "finished_at"
        )
    )
    assert len(runs) == RACED and len({r["task_id"] for r in runs}) == RACED
    assert {r["status"] for r in runs} == {"COMPLETED"} and {r["number"] for r in runs} == {1}
    assert len({r["worker_id"] for r in runs}) == 2  # both workers took runs
    for task in tasks:  # logs complete: seq 1..n, the last line the run's end
        lines = list(TaskLog.objects.filter(task=task).order_by("seq").values_list("seq", "line"))
        assert [seq for seq, _ in lines] == list(range(1, len(lines) + 1)) and len(lines) >= 4
        assert lines[-1][1] == "run 1 ended: COMPLETED"
        # 0 double runs: a second execution of the run would have logged a second end.
        assert sum(line.startswith("run 1 ended") for _, line in lines) == 1
    for group in groups:  # one running task per group, also across workers
        spans = sorted(
            (r["started_at"], r["finished_at"])
            for r in TaskRun.objects.filter(task__group=group).values("started_at", "finished_at")
        )
        assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(spans))


def test_a_worker_killed_mid_run_is_reaped_and_the_task_can_be_retried(
    stack, people, workspace, checkout
):
    token = ApiToken.issue(people["developer"], "processes")[1]
    # The run is sandboxed: it sees the marker in its checkout (its /workspace); the
    # marker's full path rides along in argv so that pgrep finds the command.
    marker = checkout / "block-the-run"
    marker.touch()
    script = (
        "import os,sys,time; print('working', flush=True); "
        "time.sleep(600 if os.path.exists('block-the-run') else 0); print('done')"
    )
    robot = RobotFactory(
        workspace=workspace,
        runner="command",
        config={"argv": ["python3", "-c", script, str(marker)]},
    )
    repo = RepositoryFactory(workspace=workspace, checkout_path=str(checkout))
    task = TaskFactory(workspace=workspace, robot=robot, repository=repo)
    status, body = post(f"{stack['url']}/api/tasks/{task.pk}/retry", token)
    assert status == 202, body
    wait_for(
        lambda: TaskRun.objects.filter(task=task, status="IN_PROGRESS").exists(),
        30,
        "the run to start",
    )
    wait_for(
        lambda: TaskLog.objects.filter(task=task, line="working").exists(),
        30,
        "the command to print",
    )
    run = TaskRun.objects.get(task=task)
    pid = int(run.worker_id.rsplit(":", 1)[1])
    assert pid in {p.pid for p in stack["procs"].values()}
    os.kill(pid, signal.SIGKILL)

    wait_for(lambda: TaskRun.objects.get(pk=run.pk).status == "ERROR", 30, "the reaper")
    run.refresh_from_db()
    task.refresh_from_db()
    assert "No heartbeat" in run.error and task.workflow_status == "ERROR"
    wait_for(
        lambda: subprocess.run(["pgrep", "-f", str(marker)], capture_output=True).returncode == 1,
        10,
        "the orphaned command to die with its worker",
    )

    marker.unlink()
    status, body = post(f"{stack['url']}/api/tasks/{task.pk}/retry", token)
    assert status == 202, body
    wait_for(
        lambda: Task.objects.get(pk=task.pk).workflow_status == "COMPLETED",
        30,
        "the retry to complete",
    )
    assert not TaskRun.objects.filter(status="IN_PROGRESS").exists()
    assert list(task.runs.values_list("number", "status")) == [(1, "ERROR"), (2, "COMPLETED")]


def blocked_command_task(workspace, checkout, *, then: str = "") -> tuple[Task, Path]:
    """A `command` task that prints 'working' and waits while its marker file exists."""
    marker = checkout / "block-the-run"
    marker.touch()
    script = (
        "import os,sys,time\nprint('working', flush=True)\n"
        f"while os.path.exists('block-the-run'): time.sleep(0.05)\n{then}print('done')"
    )
    robot = RobotFactory(
        workspace=workspace,
        runner="command",
        config={"argv": ["python3", "-c", script, str(marker)]},
    )
    repo = RepositoryFactory(workspace=workspace, checkout_path=str(checkout))
    return TaskFactory(workspace=workspace, robot=robot, repository=repo), marker


def start_and_find_its_worker(stack, people, task) -> tuple[TaskRun, str]:
    token = ApiToken.issue(people["developer"], "processes")[1]
    status, body = post(f"{stack['url']}/api/tasks/{task.pk}/retry", token)
    assert status == 202, body
    wait_for(
        lambda: TaskLog.objects.filter(task=task, line="working").exists(),
        30,
        "the command to print",
    )
    run = TaskRun.objects.get(task=task)
    pid = int(run.worker_id.rsplit(":", 1)[1])
    name = next(name for name, proc in stack["procs"].items() if proc.pid == pid)
    return run, name


def test_sigterm_mid_command_run_requeues_it_and_another_worker_completes_it_once(
    stack, people, workspace, checkout
):
    task, marker = blocked_command_task(workspace, checkout)
    run, name = start_and_find_its_worker(stack, people, task)
    stopping = stack["procs"][name]
    stopping.send_signal(signal.SIGTERM)
    # The grace (2 s) passes, the command is stopped, the run goes back to the queue and
    # the worker exits cleanly; the other worker claims the run.
    assert stopping.wait(timeout=30) == 0
    other = "worker2" if name == "worker1" else "worker1"
    wait_for(
        lambda: TaskRun.objects.filter(
            pk=run.pk, status="IN_PROGRESS", worker_id__endswith=str(stack["procs"][other].pid)
        ).exists(),
        30,
        "the other worker to claim the requeued run",
    )
    assert TaskLog.objects.filter(task=task, line="run 1 requeued: worker stopped").count() == 1
    wait_for(lambda: TaskLog.objects.filter(task=task, line="working").count() == 2, 30, "rerun")
    marker.unlink()
    wait_for(lambda: Task.objects.get(pk=task.pk).workflow_status == "COMPLETED", 30, "completion")
    assert list(task.runs.values_list("number", "status", "error")) == [(1, "COMPLETED", "")]
    lines = list(TaskLog.objects.filter(task=task).order_by("seq").values_list("line", flat=True))
    assert lines.count("run 1 ended: COMPLETED") == 1 and lines.count("done") == 1
    assert not any("ERROR" in line for line in lines)


def test_sigterm_lets_a_run_that_ends_within_the_grace_finish_on_its_worker(
    stack, people, workspace, checkout
):
    task, marker = blocked_command_task(workspace, checkout, then="time.sleep(0.5)\n")
    run, name = start_and_find_its_worker(stack, people, task)
    stopping = stack["procs"][name]
    stopping.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    marker.unlink()  # the run ends about 0.6 s into the 2 s grace
    assert stopping.wait(timeout=30) == 0
    run.refresh_from_db()
    assert (run.status, run.number) == ("COMPLETED", 1)
    assert run.worker_id.endswith(f":{stopping.pid}")
    assert not TaskLog.objects.filter(task=task, line__contains="requeued").exists()


def test_a_worker_with_more_threads_than_the_pool_runs_every_job(
    settings, people, workspace, tmp_path
):
    """WORKER_CONCURRENCY above DATABASE_POOL_SIZE: the worker sizes its pool to its
    threads (runs.worker_pool.fit_pool). Before, the twelve jobs it claimed at once
    started twelve threads; the three that got a connection kept it and the others
    failed after the pool's 30 s timeout."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    runs = [queue_run(TaskFactory(workspace=workspace)) for _ in range(12)]
    assert DBTaskResult.objects.filter(status="READY").count() >= 12  # for the worker
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        "WORKER_CONCURRENCY": "12",
        "DATABASE_POOL_SIZE": "3",
    }
    with (tmp_path / "worker.log").open("w") as log:
        worker = subprocess.Popen(
            [PYTHON, "manage.py", "db_worker", "--no-reload", "--no-startup-delay", "--batch"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            worker.wait(timeout=25)  # --batch: it stops when the queue is empty
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    output = (tmp_path / "worker.log").read_text()
    statuses = set(
        TaskRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", flat=True)
    )
    assert statuses == {"COMPLETED"}, output
    assert "PoolTimeout" not in output
