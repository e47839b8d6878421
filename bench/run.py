"""Taskdesk benchmark: `make bench` (scale 1: 1M tasks) or `make bench-smoke` (tiny).

Creates its own PostgreSQL database, fills it with generate_series, starts the real
server, and measures each part beside its floor in the same run. Writes
bench/results/latest.json and latest.md; `--compare FILE` adds the change against a
previous results file.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import Endpoint, environment_facts, json_body, measure  # noqa: E402
from delivery import run_realtime  # noqa: E402
from execution import run_execution, run_message_latency  # noqa: E402
from generate import generate  # noqa: E402
from report import check_complete, render_markdown  # noqa: E402

RESULTS = ROOT / "bench" / "results"
ASGI_APP = "config.asgi:application"
SERVER_LOG = ROOT / "var" / "bench-server.log"  # read it when a part fails


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000,000 tasks")
    parser.add_argument(
        "--parts", default="api,realtime,latency,execution", help="comma list of them"
    )
    parser.add_argument("--repetitions", type=int, default=50)
    parser.add_argument("--crowd", type=int, default=1000, help="pusher-js clients, SSE streams")
    parser.add_argument("--runs", type=int, default=2000, help="scripted runs per worker count")
    parser.add_argument(
        "--messages", type=int, default=200, help="messages for the latency part, per mode"
    )
    parser.add_argument("--reuse", action="store_true", help="keep the data of a previous run")
    parser.add_argument("--compare", type=Path, help="a previous results JSON file")
    parser.add_argument("--smoke", action="store_true", help="check every figure is a number")
    parser.add_argument("--generate-only", action="store_true", help="stop after the data")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--update", action="store_true", help="keep the other parts' figures already in --out"
    )
    args = parser.parse_args()

    admin_url = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    db_name = os.environ.get("BENCH_DATABASE", "taskdesk_bench")
    dsn = admin_url.rsplit("/", 1)[0] + "/" + db_name
    database_url = dsn.replace("postgresql://", "postgres://", 1)

    if not args.reuse:
        print(f"Creating database {db_name} at scale {args.scale}")
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')  # type: ignore[arg-type]
            conn.execute(f'CREATE DATABASE "{db_name}"')  # type: ignore[arg-type]
        manage("migrate", "--noinput", "-v0", database_url=database_url)
        started = time.perf_counter()
        generate(dsn, args.scale)
        print(f"Generated in {time.perf_counter() - started:.0f} s")
    else:
        manage("migrate", "--noinput", "-v0", database_url=database_url)  # new indexes, if any

    if args.generate_only:
        return 0
    os.environ.update(server_env(database_url))
    import django

    django.setup()
    kept = json.loads(args.out.read_text()) if args.update and args.out.exists() else {}
    report: dict[str, Any] = {
        **kept,
        "started_at": datetime.now(UTC).isoformat(),
        "scale": args.scale,
        "machine": {**environment_facts(), "postgresql": postgres_version(dsn)},
        "counts": counts(dsn),
    }
    parts = set(args.parts.split(","))
    if parts & {"api", "realtime", "latency"}:
        from accounts.models import ApiToken, User

        _, token = ApiToken.issue(User.objects.get(username="bench"), "bench")
        port = free_port()
        server = start_server(port, database_url)
        try:
            if "api" in parts:
                report["api"] = run_api(dsn, port, token, args.repetitions)
            if "realtime" in parts:
                with publishing_to(port):
                    report["realtime"] = run_realtime(
                        server_url=f"http://127.0.0.1:{port}",
                        server_pid=server.pid,
                        token=token,
                        repetitions=args.repetitions,
                        crowd=args.crowd,
                    )
            if "latency" in parts:
                report["latency"] = run_message_latency(
                    server_url=f"http://127.0.0.1:{port}",
                    token=token,
                    env={**os.environ, **server_env(database_url)},
                    messages=args.messages,
                )
        finally:
            server.terminate()
            server.wait(10)
    if "execution" in parts:
        env = {**os.environ, **server_env(database_url)}
        report["execution"] = run_execution(env, args.runs)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    previous = json.loads(args.compare.read_text()) if args.compare else None
    markdown = render_markdown(report, previous)
    (args.out.parent / (args.out.stem + ".md")).write_text(markdown)
    print(markdown)
    return check_complete(report, parts) if args.smoke else 0


def server_env(database_url: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "false",
        "SECRET_KEY": "bench-secret-key-" + "x" * 40,
        "PUSHER_SECRET": "bench-pusher-secret-" + "x" * 32,  # production wants 32+ bytes
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "THROTTLE_USER": "100000000/min",
        # The API and the workers send nothing; the realtime part aims this process's
        # publisher at the server (publishing_to).
        "REALTIME_PUBLISHER": "none",
        "LOG_LEVEL": "WARNING",
        # As in production: the Redis channel layer (SSE streams hear the workers) and cache.
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2"),
    }


def publishing_to(port: int) -> Any:
    """This process's publisher aimed at the bench server, for the realtime part only (the
    execution floor after it publishes nowhere, as the workers do)."""
    from django.test import override_settings

    return override_settings(
        REALTIME_PUBLISHER="pusher",
        PUSHER_HOST="127.0.0.1",
        PUSHER_PORT=port,
        PUSHER_SSL=False,
        PUSHER_CLUSTER="",
    )


def manage(*argv: str, database_url: str) -> None:
    env = {**os.environ, **server_env(database_url)}
    subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, database_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **server_env(database_url), "PORT": str(port)}
    SERVER_LOG.parent.mkdir(exist_ok=True)
    log = SERVER_LOG.open("wb")  # open as long as the server runs
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), ASGI_APP],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/schema", timeout=2)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not start: {SERVER_LOG.read_text(errors='replace')}")


def run_api(dsn: str, port: int, token: str, repetitions: int) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn:
        ws0 = str(
            conn.execute("SELECT id FROM accounts_workspace WHERE slug = 'ws0'").fetchone()[0]
        )  # type: ignore[index]
        task = str(
            conn.execute(
                "SELECT id FROM tasks_task WHERE workspace_id = %s AND log_seq > 0 AND NOT deleted "
                "ORDER BY id LIMIT 1",
                (ws0,),
            ).fetchone()[0]
        )  # type: ignore[index]
    today = datetime.now(UTC).date()
    year_ago = today - timedelta(days=364)
    endpoints = [
        Endpoint("auth/me", "/api/auth/me"),
        Endpoint("tasks default (all ws)", "/api/tasks"),
        Endpoint("tasks default (big ws)", f"/api/tasks?workspaceId={ws0}"),
        Endpoint(
            "tasks filtered",
            f"/api/tasks?workspaceId={ws0}&status=COMPLETED&priority=HIGH&limit=50",
        ),
        Endpoint("tasks search", f"/api/tasks?workspaceId={ws0}&search=cache&limit=50"),
        Endpoint("tasks deep page", f"/api/tasks?workspaceId={ws0}&page=1000&limit=50"),
        Endpoint(
            "tasks latestMessage",
            f"/api/tasks?workspaceId={ws0}&limit=50&includeLatestMessage=true",
        ),
        Endpoint("tasks/stats (big ws)", f"/api/tasks/stats?workspaceId={ws0}"),
        Endpoint("tasks/stats (all ws)", "/api/tasks/stats"),
        Endpoint(
            "tasks/volume 1 year",
            f"/api/tasks/volume?workspaceId={ws0}&startDay={year_ago}&endDay={today}",
        ),
        Endpoint("dashboard/sidebar", f"/api/dashboard/sidebar?workspaceId={ws0}"),
        Endpoint("task messages", f"/api/tasks/{task}/messages"),
        Endpoint("task logs", f"/api/tasks/{task}/logs"),
    ]
    first = urllib.request.urlopen(
        urllib.request.Request(
            f"http://127.0.0.1:{port}/api/tasks?workspaceId={ws0}&limit=50&cursor=",
            headers={"Authorization": f"Bearer {token}"},
        )
    )
    cursor = json_body(first.read())["pagination"]["nextCursor"]
    endpoints.insert(
        6,
        Endpoint("tasks cursor page", f"/api/tasks?workspaceId={ws0}&limit=50&cursor={cursor}"),
    )
    print(f"API: {len(endpoints)} endpoints x {repetitions} repetitions")
    return measure(endpoints, port=port, token=token, dsn=dsn, repetitions=repetitions)


def postgres_version(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]


def counts(dsn: str) -> dict[str, int]:
    tables = {
        "tasks": "tasks_task",
        "workspaces": "accounts_workspace",
        "log_lines": "tasks_tasklog",
        "chat_messages": "chat_chatmessage",
        "artifacts": "chat_artifact",
        "task_groups": "tasks_taskgroup",
    }
    with psycopg.connect(dsn) as conn:
        return {
            name: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index,arg-type]
            for name, table in tables.items()
        }


if __name__ == "__main__":
    raise SystemExit(main())
