"""API latency through the real stack (daphne, HTTP), beside the floor: the same SQL
that the ORM issued for the request, run straight through psycopg. The admin's
changelists are measured the same way, as a staff user's session (`Endpoint.staff`)."""

import contextlib
import http.client
import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

# Requests before the measured ones: a server's steady state. psycopg prepares a statement
# at its fifth run on a connection, and PostgreSQL plans a prepared statement anew for its
# first five runs before it settles on a plan; a statement that can never settle is then
# planned at every request. With 2, the measured requests fell mostly in that first round,
# and one such statement (2 ms of a 5 ms list) did not show.
WARM_UP = 12


@dataclass
class Endpoint:
    name: str
    path: str
    staff: bool = False  # a staff session (the admin), else the bench user's API token


@dataclass(frozen=True)
class Callers:
    """How the bench authenticates: the API token, the admin's session cookie."""

    token: str
    staff_session: str = ""

    def headers(self, endpoint: Endpoint) -> dict[str, str]:
        if endpoint.staff:
            from django.conf import settings

            return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={self.staff_session}"}
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Measurement:
    name: str
    path: str
    queries: int
    api_ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        api, floor = percentiles(self.api_ms), percentiles(self.floor_ms)
        return {
            "name": self.name,
            "path": self.path,
            "queries": self.queries,
            "api_ms": api,
            "floor_ms": floor,
            "ratio_p50": round(api["p50"] / floor["p50"], 2) if floor["p50"] else None,
        }


def percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "n": 0}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {
        "p50": round(statistics.median(ordered), 3),
        "p95": at(0.95),
        "p99": at(0.99),
        "n": len(ordered),
    }


def http_get(port: int) -> Callable[[str, dict[str, str]], tuple[int, bytes]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()

    return get


def capture_sql(path: str, headers: dict[str, str]) -> list[str]:
    """The SQL one request issues, from the ORM, in this process (Django set up on the
    bench database), with its parameters in place."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(
        HTTP_HOST="127.0.0.1",
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()},
    )
    client.get(path)  # warm: token last-used stamp, caches
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}: {response.content[:300]!r}")
    # The floor is the reads; a once-a-minute token stamp is not part of it.
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))
    ]


def measure(
    endpoints: list[Endpoint],
    *,
    port: int,
    callers: Callers,
    dsn: str,
    repetitions: int,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    get = http_get(port)
    results = []
    with psycopg.connect(dsn, autocommit=True) as floor_conn:
        for endpoint in endpoints:
            headers = callers.headers(endpoint)
            statements = capture_sql(endpoint.path, headers)
            m = Measurement(endpoint.name, endpoint.path, queries=len(statements))
            for _ in range(WARM_UP):  # warm both paths
                get(endpoint.path, headers)
                for sql in statements:
                    floor_conn.execute(sql).fetchall()  # type: ignore[call-overload]
            for _ in range(repetitions):
                started = time.perf_counter()
                status, body = get(endpoint.path, headers)
                m.api_ms.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise RuntimeError(f"{endpoint.path}: HTTP {status} {body[:200]!r}")
                started = time.perf_counter()
                for sql in statements:
                    floor_conn.execute(sql).fetchall()  # type: ignore[call-overload]
                m.floor_ms.append((time.perf_counter() - started) * 1000)
            summary = m.summary()
            log(
                f"  {endpoint.name:<28} api p50 {summary['api_ms']['p50']:8.2f} ms   floor p50 "
                f"{summary['floor_ms']['p50']:8.2f} ms   x{summary['ratio_p50']}   "
                f"{m.queries} queries"
            )
            results.append(summary)
    return results


@contextlib.contextmanager
def a_worker_alive(worker_id: str = "bench:0") -> Iterator[None]:
    """A worker's presence while the API is measured, stamped every
    WORKER_HEARTBEAT_SECONDS as a worker's pulse stamps it: the list computes each waiting
    task's reason as in a deployment whose workers run (with none alive, every waiting task
    answers `no_worker` at once), and `queueReason=queued` has rows to find."""
    from django.conf import settings
    from django.db import connection

    from runs import presence

    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.is_set():
                presence.beat(worker_id)
                stop.wait(settings.WORKER_HEARTBEAT_SECONDS)
        finally:
            connection.close()

    presence.beat(worker_id)
    thread = threading.Thread(target=beat, daemon=True, name="bench-presence")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        presence.forget(worker_id)


def json_body(raw: bytes) -> Any:
    return json.loads(raw.decode())


def environment_facts() -> dict[str, Any]:
    import platform

    import django

    mem_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "django": django.get_version(),
        "machine": platform.machine(),
    }
