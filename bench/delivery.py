"""Realtime: events from commit to the real pusher-js, fan-out to a crowd, and a crowd of
SSE log streams on one server process.

The server is one real daphne (the built-in push service and the SSE streams) with the
Redis channel layer, as in production. This process publishes as a worker does: an
event is written to the outbox inside a transaction and sent on commit through the
official `pusher` client. The clock starts in the first on-commit hook; pusher-js
(bench/js/pusher.js) notes when the first and the last of its clients received each
event. The floor is the push service alone: the same event sent with the official
client's `trigger`, no transaction and no outbox.
"""

import asyncio
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from api import percentiles

JS_DIR = Path(__file__).resolve().parent / "js"
WAIT = 120.0  # seconds: a hang guard, not a measurement


def run_realtime(
    *,
    server_url: str,
    server_pid: int,
    token: str,
    repetitions: int,
    crowd: int,
) -> dict[str, Any]:
    from realtime.events import task_channel

    task, run = running_task()
    channel = task_channel(task.pk)
    result: dict[str, Any] = {}
    print(f"Realtime: {repetitions} events to 1 client, to {crowd} clients; {crowd} SSE streams")
    with pusher_clients(server_url, token, channel, clients=1) as listener:
        result["latency_ms"] = events_latency(listener, channel, repetitions, "first")
    with pusher_clients(server_url, token, channel, clients=crowd) as listener:
        result["fanout_ms"] = events_latency(listener, channel, max(repetitions // 5, 3), "last")
        result["fanout_ms"]["clients"] = crowd
    result["sse"] = sse_crowd(server_url, server_pid, token, task, run, crowd, repetitions)
    for name in ("latency_ms", "fanout_ms"):
        row = result[name]
        print(
            f"  {name:<12} p50 {row['outbox']['p50']:.2f} ms  p99 {row['outbox']['p99']:.2f} ms  "
            f"floor p50 {row['floor']['p50']:.2f} ms  x{row['ratio_p50']}"
        )
    sse = result["sse"]
    print(
        f"  sse          {sse['streams']} streams: {sse['threads']} threads, {sse['rss_mb']} MB "
        f"RSS; line to all p50 {sse['last_ms']['p50']:.2f} ms p99 {sse['last_ms']['p99']:.2f} ms"
    )
    return result


def running_task() -> tuple[Any, Any]:
    """A task of the bench user's first workspace with a run in progress (SSE streams stay
    open only while one is)."""
    from django.utils import timezone

    from accounts.models import Workspace
    from runs.models import TaskRun
    from tasks import counters
    from tasks.models import Task, WorkflowStatus

    workspace = Workspace.objects.get(slug="ws0")
    task = Task.objects.create(
        workspace=workspace, title="bench realtime", workflow_status=WorkflowStatus.IN_PROGRESS
    )
    counters.created(task)
    run = TaskRun.objects.create(
        task=task, number=1, status=WorkflowStatus.IN_PROGRESS, started_at=timezone.now()
    )
    return task, run


# -- pusher-js ------------------------------------------------------------------------------


class Listener:
    def __init__(self, process: subprocess.Popen[str]):
        self.process = process

    def next_line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"pusher.js stopped: {self.process.stderr.read()}")  # type: ignore[union-attr]
        parsed: dict[str, Any] = json.loads(line)
        if parsed["type"] == "error":
            raise RuntimeError(f"pusher.js: {parsed['error']}")
        return parsed


@contextmanager
def pusher_clients(
    server_url: str, token: str, channel: str, clients: int, event: str | None = None
) -> Iterator[Listener]:
    """`clients` pusher-js connections on `channel`; `event`: print each such event."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("Node 20 is needed for the realtime benchmark")
    config: dict[str, Any] = {
        "server": server_url,
        "token": token,
        "channel": channel,
        "clients": clients,
    }
    if event:
        config["event"] = event
    process = subprocess.Popen(
        [node, "pusher.js", json.dumps(config)],
        cwd=JS_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    listener = Listener(process)
    try:
        ready = listener.next_line()
        assert ready["type"] == "ready", ready
        yield listener
    finally:
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def events_latency(
    listener: Listener, channel: str, repetitions: int, which: str
) -> dict[str, Any]:
    """Milliseconds from send to the `first` or `last` client's receipt, through the outbox
    and (the floor) straight through the push service."""
    from django.db import transaction

    from realtime.events import publish
    from realtime.publishers import pusher_client

    client = pusher_client()
    sent: dict[int, float] = {}

    def through_outbox(n: int) -> None:
        with transaction.atomic():
            transaction.on_commit(lambda: sent.__setitem__(n, time.time() * 1000))
            publish(channel, "bench", {"n": n})

    def straight(n: int) -> None:
        sent[n] = time.time() * 1000
        client.trigger(channel, "bench", {"n": n})

    samples: dict[str, list[float]] = {"outbox": [], "floor": []}
    for n in range(2 * repetitions + 4):  # interleaved; the first two of each warm up
        kind = "outbox" if n % 2 == 0 else "floor"
        (through_outbox if kind == "outbox" else straight)(n)
        line = listener.next_line()
        assert line["type"] == "received" and line["n"] == n, line
        if n >= 4:
            samples[kind].append(line[which] - sent[n])
        time.sleep(0.01)
    outbox, floor = percentiles(samples["outbox"]), percentiles(samples["floor"])
    return {
        "outbox": outbox,
        "floor": floor,
        "ratio_p50": round(outbox["p50"] / floor["p50"], 2) if floor["p50"] else None,
    }


# -- SSE ------------------------------------------------------------------------------------


def sse_crowd(
    server_url: str, server_pid: int, token: str, task: Any, run: Any, streams: int, lines: int
) -> dict[str, Any]:
    """Opens `streams` SSE log streams on the task, reads the server process's threads and
    RSS, then appends `lines` lines (one per commit) and times each to the first and the
    last stream."""
    from django.db import transaction

    from runs.logs import append_lines

    host, port = server_url.removeprefix("http://").split(":")
    path = f"/api/tasks/{task.pk}/logs/stream?tail=0"
    crowd = SSECrowd(host, int(port), path, token, streams)
    before = process_status(server_pid)
    crowd.start()
    after = process_status(server_pid)
    sent: dict[int, float] = {}
    try:
        for n in range(lines + 2):
            with transaction.atomic():
                transaction.on_commit(lambda n=n: sent.__setitem__(n, time.time() * 1000))  # type: ignore[misc]
                append_lines(run, [("stdout", f"bench-sse {n}")])
            crowd.wait_for(n)
            time.sleep(0.01)
        during = process_status(server_pid)
    finally:
        crowd.stop()
    received = crowd.received
    first = [received[n][1] - sent[n] for n in range(2, lines + 2)]
    last = [received[n][2] - sent[n] for n in range(2, lines + 2)]
    return {
        "streams": streams,
        "threads": max(after["threads"], during["threads"]),
        "threads_idle_server": before["threads"],
        "rss_mb": round(max(after["rss_kb"], during["rss_kb"]) / 1024, 1),
        "rss_mb_idle_server": round(before["rss_kb"] / 1024, 1),
        "first_ms": percentiles(first),
        "last_ms": percentiles(last),
    }


def process_status(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {"threads": int(fields["Threads"]), "rss_kb": int(fields["VmRSS"].split()[0])}


class SSECrowd:
    """`count` raw HTTP/1.1 SSE clients on one asyncio loop in a thread of their own. For
    each `bench-sse N` line: (how many streams got it, first receipt, last receipt) in
    epoch milliseconds."""

    LINE = re.compile(rb"bench-sse (\d+)")

    def __init__(self, host: str, port: int, path: str, token: str, count: int):
        self.host, self.port, self.path, self.token, self.count = host, port, path, token, count
        self.received: dict[int, list[float]] = {}
        self.opened = 0
        self.ready = threading.Event()
        self.changed = threading.Condition()
        self.error: BaseException | None = None
        self.streams: list[asyncio.Task[None]] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(WAIT) or self.error:
            raise RuntimeError(f"{self.opened} of {self.count} SSE streams opened: {self.error}")

    def wait_for(self, n: int) -> None:
        deadline = time.monotonic() + WAIT
        with self.changed:
            while self.received.get(n, [0])[0] < self.count:
                if self.error or time.monotonic() > deadline:
                    got = self.received.get(n, [0])[0]
                    raise RuntimeError(f"line {n} reached {got} of {self.count}: {self.error}")
                self.changed.wait(1)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(WAIT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _close(self) -> None:
        for stream in self.streams:
            stream.cancel()
        await asyncio.gather(*self.streams, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        # Held here: the loop holds its tasks weakly, and a stream waiting on its socket
        # is a reference cycle the garbage collector took (the stream closed unread).
        self.streams = [self.loop.create_task(self._stream()) for _ in range(self.count)]
        self.loop.run_forever()

    async def _stream(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                raise RuntimeError(head.decode(errors="replace"))
            buffer, opened = b"", False
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    raise RuntimeError("a stream ended")
                buffer += chunk
                if not opened and b"event: init" in buffer:
                    opened = True
                    self._opened()
                *events, buffer = buffer.split(b"\n\n")
                for event in events:
                    if match := self.LINE.search(event):
                        self._got(int(match[1]), time.time() * 1000)
        except Exception as error:  # reported by start() and wait_for()
            self.error = error
            self.ready.set()
            with self.changed:
                self.changed.notify_all()
        finally:
            writer.close()

    def _opened(self) -> None:
        self.opened += 1
        if self.opened == self.count:
            self.ready.set()

    def _got(self, n: int, at: float) -> None:
        with self.changed:
            entry = self.received.setdefault(n, [0, at, at])
            entry[0] += 1
            entry[2] = at
            if entry[0] == self.count:
                self.changed.notify_all()
