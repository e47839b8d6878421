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
from generate import generate  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000,000 tasks")
    parser.add_argument("--parts", default="api", help="comma list of: api")
    parser.add_argument("--repetitions", type=int, default=50)
    parser.add_argument("--reuse", action="store_true", help="keep the data of a previous run")
    parser.add_argument("--compare", type=Path, help="a previous results JSON file")
    parser.add_argument("--smoke", action="store_true", help="check every figure is a number")
    parser.add_argument("--generate-only", action="store_true", help="stop after the data")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
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
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "scale": args.scale,
        "machine": {**environment_facts(), "postgresql": postgres_version(dsn)},
        "counts": counts(dsn),
    }
    parts = set(args.parts.split(","))
    if "api" in parts:
        report["api"] = run_api(dsn, database_url, args.repetitions)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    previous = json.loads(args.compare.read_text()) if args.compare else None
    markdown = render_markdown(report, previous)
    (args.out.parent / (args.out.stem + ".md")).write_text(markdown)
    print(markdown)
    return check_complete(report) if args.smoke else 0


def server_env(database_url: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "false",
        "SECRET_KEY": "bench-secret-key-" + "x" * 40,
        "PUSHER_SECRET": "bench-pusher-secret",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "THROTTLE_USER": "100000000/min",
        "REALTIME_PUBLISHER": "none",
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
    }


def manage(*argv: str, database_url: str) -> None:
    env = {**os.environ, **server_env(database_url)}
    subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, database_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **server_env(database_url), "PORT": str(port)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/schema", timeout=2)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(
        "the server did not start: " + (process.stderr.read() or b"").decode()
        if process.stderr
        else ""
    )


def run_api(dsn: str, database_url: str, repetitions: int) -> list[dict[str, Any]]:
    from accounts.models import ApiToken, User

    _, token = ApiToken.issue(User.objects.get(username="bench"), "bench")
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
    port = free_port()
    server = start_server(port, database_url)
    try:
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
    finally:
        server.terminate()
        server.wait(10)


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


def render_markdown(report: dict[str, Any], previous: dict[str, Any] | None) -> str:
    machine = report["machine"]
    lines = [
        f"# Taskdesk benchmark, {report['started_at'][:19]} UTC",
        "",
        f"Scale {report['scale']}: " + ", ".join(f"{v:,} {k}" for k, v in report["counts"].items()),
        f"Machine: {machine['cores']} cores, {machine['memory_gb']} GB, {machine['machine']}, "
        f"Python {machine['python']}, Django {machine['django']}, "
        f"PostgreSQL {machine['postgresql']}",
        "",
    ]
    if "api" in report:
        before = {row["name"]: row for row in (previous or {}).get("api", [])}
        lines += [
            "## API (through daphne over HTTP) vs floor (the same SQL through psycopg)",
            "",
            "| endpoint | queries | api p50 | api p95 | api p99 | floor p50 | ratio p50 |"
            + (" prev ratio |" if previous else ""),
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if previous else ""),
        ]
        for row in report["api"]:
            api, floor = row["api_ms"], row["floor_ms"]
            line = (
                f"| {row['name']} | {row['queries']} | {api['p50']:.2f} ms | "
                f"{api['p95']:.2f} ms | {api['p99']:.2f} ms | {floor['p50']:.2f} ms | "
                f"{row['ratio_p50']}x |"
            )
            if previous:
                old = before.get(row["name"])
                line += f" {old['ratio_p50']}x |" if old else " - |"
            lines.append(line)
        lines.append("")
    return "\n".join(lines)


def check_complete(report: dict[str, Any]) -> int:
    """Smoke mode: every measurement produced a number (speed is not judged here)."""
    missing = [
        row["name"]
        for row in report.get("api", [])
        if not row["api_ms"]["n"] or row["ratio_p50"] is None
    ]
    if missing or "api" not in report:
        print(f"bench-smoke: missing figures for {missing or ['api']}", file=sys.stderr)
        return 1
    print("bench-smoke: 1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
