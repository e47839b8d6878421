"""The sandbox of `command` runs, for real: bubblewrap, real processes, a real TCP
service on 127.0.0.1. Each probe runs inside a run and prints what it could do."""

import json
import os
import socket
import threading
from pathlib import Path

import pytest
from django.conf import settings

from runs.models import TaskLog
from runs.services import queue_run
from tests.factories import RobotFactory, RunnerProfileFactory, TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)

PROBE = r"""
import json, os, socket, sys
paths = json.loads(sys.argv[1])
port = int(sys.argv[2])
found = {"uid": os.getuid(), "env": sorted(os.environ)}
for name, path in paths.items():
    try:
        with open(path, "rb") as f:
            f.read(16)
        found[name] = "read"
    except OSError as error:
        found[name] = type(error).__name__
    found[name + "_listed"] = os.path.exists(os.path.dirname(path))
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("127.0.0.1", port))
    found["tcp"] = "connected"
except OSError as error:
    found["tcp"] = type(error).__name__
open("written-by-run", "w").write("ok")
print("PROBE " + json.dumps(found))
"""


def logged(task):
    return list(TaskLog.objects.filter(task=task).values_list("stream", "line"))


def probe_result(task) -> dict:
    line = next(line for _, line in logged(task) if line.startswith("PROBE "))
    return json.loads(line[len("PROBE ") :])


@pytest.fixture
def tcp_service():
    """A service on 127.0.0.1 (think: PostgreSQL, Redis) that answers whoever connects."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            accepted.append(connection)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.fixture
def other_run_dir():
    """Another run's directory, as the sandbox leaves it: below RUN_SANDBOX_ROOT, owned by
    the sandbox user, holding a file."""
    root = Path(settings.RUN_SANDBOX_ROOT)
    root.mkdir(mode=0o711, parents=True, exist_ok=True)
    directory = root / f"other-run-{os.getpid()}"
    directory.mkdir(exist_ok=True)
    (directory / "notes.txt").write_text("another workspace's work")
    os.chown(directory, settings.RUN_SANDBOX_UID, settings.RUN_SANDBOX_UID)
    os.chown(directory / "notes.txt", settings.RUN_SANDBOX_UID, settings.RUN_SANDBOX_UID)
    yield directory / "notes.txt"
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()


def run_probe(workspace, port, paths, **profile):
    profile = RunnerProfileFactory(
        argv=["python3", "-c", PROBE, json.dumps(paths), str(port)], **profile
    )
    robot = RobotFactory(workspace=workspace, runner="command", config={"profile": profile.name})
    task = TaskFactory(workspace=workspace, robot=robot)
    run = queue_run(task)
    run.refresh_from_db()
    return run, task


def test_a_sandboxed_run_sees_nothing_of_the_server(
    workspace, tcp_service, other_run_dir, monkeypatch
):
    monkeypatch.setenv("SERVER_ONLY_SECRET", "do-not-leak")
    database = settings.DATABASES["default"]["NAME"]
    paths = {
        "project": str(Path(settings.BASE_DIR) / "manage.py"),
        "settings": str(Path(settings.BASE_DIR) / "config" / "settings.py"),
        "var": str(Path(settings.VAR_DIR) / "pusher-secret"),
        "database": str(database) if str(database).startswith("/") else "/var/lib/postgresql",
        "other_run": str(other_run_dir),
        "root_home": "/root/.bash_history",
        "shadow": "/etc/shadow",
    }
    # The probe can read real files (the test can fail): the server itself reads them all.
    assert Path(paths["project"]).exists() and Path(paths["other_run"]).exists()
    run, task = run_probe(workspace, tcp_service, paths)
    assert run.status == "COMPLETED", logged(task)
    found = probe_result(task)
    assert found["uid"] != 0
    for name in paths:
        assert found[name] != "read", (name, found)
    assert not found["project_listed"] and not found["var_listed"]
    assert found["tcp"] != "connected"
    assert set(found["env"]) <= {"PATH", "HOME", "LANG", "TMPDIR", "TASKDESK_TASK_ID",
                                 "TASKDESK_RUN_NUMBER", "PWD"}  # fmt: skip


def test_with_network_allowed_the_run_reaches_the_service(workspace, tcp_service):
    run, task = run_probe(workspace, tcp_service, {}, network=True)
    assert run.status == "COMPLETED", logged(task)
    assert probe_result(task)["tcp"] == "connected"


def test_each_run_gets_a_fresh_directory_removed_afterwards(workspace):
    argv = ["sh", "-c", "pwd; ls -A; echo hi > left-behind; ls /tmp | wc -l"]
    profile = RunnerProfileFactory(argv=argv)
    robot = RobotFactory(workspace=workspace, runner="command", config={"profile": profile.name})
    before = set(Path(settings.RUN_SANDBOX_ROOT).glob("run-*"))
    for _ in range(2):
        task = TaskFactory(workspace=workspace, robot=robot)
        run = queue_run(task)
        run.refresh_from_db()
        out = [line for stream, line in logged(task) if stream == "stdout"]
        assert run.status == "COMPLETED" and out == ["/workspace", "0"]
    assert set(Path(settings.RUN_SANDBOX_ROOT).glob("run-*")) == before


def limited_run(workspace, script, **limits):
    profile = RunnerProfileFactory(argv=["python3", "-c", script], **limits)
    robot = RobotFactory(workspace=workspace, runner="command", config={"profile": profile.name})
    task = TaskFactory(workspace=workspace, robot=robot)
    run = queue_run(task)
    run.refresh_from_db()
    return run, [line for stream, line in logged(task) if stream == "system"]


def test_killed_at_the_cpu_limit(workspace):
    run, system = limited_run(workspace, "while True: pass", cpu_seconds=1)
    assert run.status == "FAILED" and "CPU limit of 1 s" in run.error
    assert "killed: CPU limit of 1 s passed." in system


def test_killed_at_the_memory_limit(workspace):
    script = (
        "import time\nheld = []\nwhile True:\n"
        "    held.append(bytearray(8 << 20))\n    time.sleep(0.05)"
    )
    run, system = limited_run(workspace, script, memory_mb=64)
    assert run.status == "FAILED" and "Memory limit of 64 MB" in run.error
    assert "killed: Memory limit of 64 MB passed." in system


def test_killed_at_the_output_limit(workspace):
    script = "import sys\nwhile True:\n    sys.stdout.write('x' * 99 + '\\n')"
    run, system = limited_run(workspace, script, max_output_bytes=20000)
    assert run.status == "FAILED" and "Output limit of 20000 bytes" in run.error
    assert "killed: Output limit of 20000 bytes passed." in system
    assert TaskLog.objects.filter(run=run, stream="stdout").count() <= 200


def test_processes_and_open_files_are_limited(workspace):
    script = (
        "import os, resource\n"
        "print(resource.getrlimit(resource.RLIMIT_NPROC)[0], "
        "resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    profile = RunnerProfileFactory(
        argv=["python3", "-c", script], max_processes=64, max_open_files=100
    )
    robot = RobotFactory(workspace=workspace, runner="command", config={"profile": profile.name})
    task = TaskFactory(workspace=workspace, robot=robot)
    queue_run(task)
    assert ("stdout", "64 100") in logged(task)


def test_without_bubblewrap_the_command_runner_refuses(workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap to be found
    robot = RobotFactory(workspace=workspace, runner="command", config={"argv": ["/usr/bin/true"]})
    run = queue_run(TaskFactory(workspace=workspace, robot=robot))
    run.refresh_from_db()
    assert run.status == "FAILED" and "bubblewrap" in run.error


def test_a_checkout_in_the_project_is_refused(workspace):
    from tests.factories import RepositoryFactory

    repo = RepositoryFactory(workspace=workspace, checkout_path=str(settings.BASE_DIR))
    robot = RobotFactory(workspace=workspace, runner="command", config={"argv": ["ls"]})
    run = queue_run(TaskFactory(workspace=workspace, robot=robot, repository=repo))
    run.refresh_from_db()
    assert run.status == "FAILED" and "not allowed" in run.error
