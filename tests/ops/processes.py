"""Real processes for the operability tests: a private PostgreSQL cluster the test may
stop and start (the shared one must keep running for everyone else), daphne servers,
`db_worker`s and the outbox dispatcher, with the product's own settings."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.realtime.live import ROOT, free_port

WAIT = 60.0


def pg_bin(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    assert found, f"{name} (PostgreSQL server binaries) is needed"
    return found


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port (initdb, pg_ctl)."""

    data: Path
    port: int
    log: Path

    @classmethod
    def create(cls) -> "PrivatePostgres":
        root = Path(tempfile.mkdtemp(prefix="taskdesk-pg-"))
        cluster = cls(root / "data", free_port(), root / "postgres.log")
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to `postgres`
            shutil.chown(root, "postgres")
        cluster.run(
            pg_bin("initdb"), "-D", str(cluster.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        cluster.start()
        return cluster

    def run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/taskdesk"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off "
            "-c full_page_writes=off"
        )
        self.run(
            pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.log),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self.run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.data.parent, ignore_errors=True)


def product_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": "",
            "WORKER_HEARTBEAT_SECONDS": "1",
            "WORKER_PRESENCE_SECONDS": "4",
            **extra,
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass
class Stack:
    """Processes started by a test, stopped at its end; their output in `logs`."""

    logs: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(self, name: str, command: list[str], **env: str) -> subprocess.Popen[bytes]:
        handle = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command, cwd=ROOT, env={**self.env, **env}, stdout=handle, stderr=subprocess.STDOUT
        )
        self.procs[name] = process
        return process

    def server(self, name: str, port: int = 0, **env: str) -> str:
        """daphne on `port` (a free one by default), told its own port (PORT)."""
        port = port or free_port()
        daphne = str(Path(sys.executable).parent / "daphne")
        self.spawn(
            name,
            [daphne, "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            **{"PORT": str(port), **env},
        )
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: get(url + "/healthz")[0] == 200, f"{name} to listen", self.log(name))
        return url

    def worker(self, name: str) -> None:
        self.spawn(
            name,
            [
                sys.executable,
                "manage.py",
                "db_worker",
                "--interval",
                "0.2",
                "--no-reload",
                "--no-startup-delay",
                "--worker-id",
                name,
            ],
        )

    def dispatcher(self, name: str = "dispatcher", port: int = 0) -> None:
        extra = {"PORT": str(port)} if port else {}
        self.spawn(
            name, [sys.executable, "manage.py", "realtime_dispatch", "--interval", "1"], **extra
        )

    def kill(self, name: str) -> None:
        self.procs[name].kill()
        self.procs[name].wait()

    def log(self, name: str) -> Callable[[], str]:
        return lambda: (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for process in self.procs.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.procs.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def get(url: str, token: str = "", timeout: float = 15) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, parse(response.read())
    except urllib.error.HTTPError as error:
        return error.code, parse(error.read())
    except OSError as error:
        return 0, str(error)


def parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def wait_until(
    condition: Callable[[], bool],
    what: str,
    details: Callable[[], str] = lambda: "",
    timeout: float = WAIT,
) -> float:
    """Polls `condition`; returns the seconds it took (fails after `timeout`)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"gave up waiting for {what}\n{details()}"
        time.sleep(0.2)
    return time.monotonic() - started


@dataclass
class PrivateRedis:
    """A throwaway Redis on a free port, without persistence: a restart loses every key,
    as a Redis restarted without a volume does (channel layer groups included)."""

    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, logs: Path) -> "PrivateRedis":
        server = cls(free_port(), logs / "redis.log")
        server.start()
        return server

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        redis_server = shutil.which("redis-server")
        assert redis_server, "redis-server is needed"
        self.process = subprocess.Popen(
            [
                redis_server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_until(self.answers, "redis-server to answer", lambda: self.log.read_text()[-2000:])

    def answers(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), 1) as s,
        ):
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # as a crash: no goodbye to the clients
            self.process.wait()
        self.process = None
