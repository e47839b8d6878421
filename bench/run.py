"""Taskdesk benchmark: `make bench` (100k then 1M tasks) or `make bench-smoke` (tiny).

Creates its own PostgreSQL database per scale, fills it with generate_series, starts the
real server, and measures each part beside its floor in the same run; with two scales or
more, the API part at each and each endpoint's growth. Writes
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

from api import (  # noqa: E402
    Callers,
    Endpoint,
    a_worker_alive,
    environment_facts,
    json_body,
    measure,
)
from delivery import run_realtime  # noqa: E402
from execution import run_execution, run_message_latency  # noqa: E402
from generate import generate  # noqa: E402
from report import check_complete, render_markdown  # noqa: E402

RESULTS = ROOT / "bench" / "results"
ASGI_APP = "config.asgi:application"
SERVER_LOG = ROOT / "var" / "bench-server.log"  # read it when a part fails


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--scales",
        default="0.1,1",
        help="comma list; 1 = 1,000,000 tasks. With two or more, each endpoint's growth from "
        "the smallest to the largest is reported beside its floor ratio",
    )
    parser.add_argument("--scale", type=float, help="one scale (same as --scales SCALE)")
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
    scales = [args.scale] if args.scale else sorted({float(s) for s in args.scales.split(",")})
    parts = set(args.parts.split(","))
    if len(scales) == 1:
        report = run_scale(args, scales[0], parts)
        if report is None:
            return 0
    else:
        report = run_scales(args, scales, parts)
        if report is None:
            return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    previous = json.loads(args.compare.read_text()) if args.compare else None
    markdown = render_markdown(report, previous)
    (args.out.parent / (args.out.stem + ".md")).write_text(markdown)
    print(markdown)
    return check_complete(report, parts) if args.smoke else 0


def run_scales(args: argparse.Namespace, scales: list[float], parts: set[str]) -> Any:
    """Each scale in a process of its own (Django is set up on one database per process):
    the API part at every scale, the other parts at the largest only; then one report,
    the largest scale's, with each endpoint's p50 at every scale and its growth."""
    by_scale: dict[str, dict[str, Any]] = {}
    report: dict[str, Any] = {}
    for scale in scales:
        scale_parts = parts if scale == scales[-1] else parts & {"api"}
        generate_only = args.generate_only or not scale_parts
        out = ROOT / "var" / f"bench-scale-{scale_tag(scale)}.json"
        argv = [sys.executable, str(Path(__file__).resolve()), "--scales", str(scale)]
        argv += ["--parts", ",".join(sorted(scale_parts or {"api"})), "--out", str(out)]
        argv += ["--repetitions", str(args.repetitions), "--crowd", str(args.crowd)]
        argv += ["--runs", str(args.runs), "--messages", str(args.messages)]
        argv += ["--reuse"] * args.reuse + ["--generate-only"] * generate_only
        print(f"== scale {scale}", flush=True)
        subprocess.run(argv, cwd=ROOT, check=True)
        if not generate_only:
            report = json.loads(out.read_text())
            by_scale[str(scale)] = {"counts": report["counts"], "api": report.get("api", [])}
    if args.generate_only:
        return None
    report["scales"] = [str(scale) for scale in scales if str(scale) in by_scale]
    report["by_scale"] = by_scale
    if "api" in report and len(report["scales"]) > 1:
        report["api"] = with_growth(report["api"], by_scale, report["scales"])
    return report


def with_growth(
    rows: list[dict[str, Any]], by_scale: dict[str, dict[str, Any]], scales: list[str]
) -> list[dict[str, Any]]:
    """The largest scale's rows, each with its p50s at every scale and the growth of its
    api and floor p50 from the smallest scale to the largest."""
    smallest = {row["name"]: row for row in by_scale[scales[0]]["api"]}
    out = []
    for row in rows:
        first = smallest.get(row["name"])
        p50s = {}
        for scale in scales:
            match = [r for r in by_scale[scale]["api"] if r["name"] == row["name"]]
            if match:
                p50s[scale] = {
                    "api": match[0]["api_ms"]["p50"],
                    "floor": match[0]["floor_ms"]["p50"],
                    "queries": match[0]["queries"],
                }
        growth = floor_growth = None
        if first and first["api_ms"]["p50"] and first["floor_ms"]["p50"]:
            growth = round(row["api_ms"]["p50"] / first["api_ms"]["p50"], 2)
            floor_growth = round(row["floor_ms"]["p50"] / first["floor_ms"]["p50"], 2)
        out.append(
            {**row, "p50_by_scale": p50s, "growth_p50": growth, "floor_growth_p50": floor_growth}
        )
    return out


def scale_tag(scale: float) -> str:
    return f"{scale:g}".replace(".", "_")


def run_scale(args: argparse.Namespace, scale: float, parts: set[str]) -> Any:
    """One scale: its own database (BENCH_DATABASE plus the scale), generated unless
    --reuse, then the parts asked for."""
    admin_url = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    db_name = os.environ.get("BENCH_DATABASE", "taskdesk_bench") + "_" + scale_tag(scale)
    dsn = admin_url.rsplit("/", 1)[0] + "/" + db_name
    database_url = dsn.replace("postgresql://", "postgres://", 1)

    if not args.reuse:
        print(f"Creating database {db_name} at scale {scale}")
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')  # type: ignore[arg-type]
            conn.execute(f'CREATE DATABASE "{db_name}"')  # type: ignore[arg-type]
        manage("migrate", "--noinput", "-v0", database_url=database_url)
        started = time.perf_counter()
        generate(dsn, scale)
        # The rows went in as raw SQL: the counters and the volume rollup are counted now.
        manage("repair_counters", "-v0", database_url=database_url)
        print(f"Generated in {time.perf_counter() - started:.0f} s")
    else:
        manage("migrate", "--noinput", "-v0", database_url=database_url)  # new indexes, if any

    if args.generate_only:
        return None
    os.environ.update(server_env(database_url))
    import django

    django.setup()
    kept = json.loads(args.out.read_text()) if args.update and args.out.exists() else {}
    report: dict[str, Any] = {
        **kept,
        "started_at": datetime.now(UTC).isoformat(),
        "scale": scale,
        "machine": {**environment_facts(), "postgresql": postgres_version(dsn)},
        "counts": counts(dsn),
    }
    if parts & {"api", "realtime", "latency"}:
        from accounts.models import ApiToken, User

        _, token = ApiToken.issue(User.objects.get(username="bench"), "bench")
        port = free_port()
        server = start_server(port, database_url)
        try:
            if "api" in parts:
                report["api"] = run_api(
                    dsn, port, Callers(token, staff_session()), args.repetitions
                )
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
        report["execution"] = run_execution(env, dsn, args.runs)
    return report


def staff_session() -> str:
    """A signed-in session of a staff superuser, for the admin's changelists."""
    from django.test import Client

    from accounts.models import User

    user, _ = User.objects.update_or_create(
        username="bench-staff",
        defaults={"email": "bench-staff@x.test", "is_staff": True, "is_superuser": True},
    )
    client = Client()
    client.force_login(user)
    from django.conf import settings

    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


def server_env(database_url: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "false",
        "SECRET_KEY": "bench-secret-key-" + "x" * 40,
        "PUSHER_SECRET": "bench-pusher-secret-" + "x" * 32,  # production wants 32+ bytes
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The bench measures speed, not the throttles: the latency part posts 200 chat
        # messages per mode from one user (THROTTLE_CHAT is 60/min).
        **{f"THROTTLE_{scope}": "100000000/min" for scope in ("USER", "CHAT", "RUNS", "TOKENS")},
        # The workers of the execution part send nothing; the server publishes to itself
        # (start_server), the realtime part aims this process's publisher at it.
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
    # The server publishes into the Redis layer its push server reads, as in production
    # (deploy/compose.yaml): a dispatcher sends whatever its channel holds, the workers'
    # events too (a server publishing nowhere marked a worker's answer sent when the two
    # dispatched the channel at once).
    env = {
        **os.environ,
        **server_env(database_url),
        "PORT": str(port),
        "REALTIME_PUBLISHER": "layer",
        "PUSHER_HOST": "127.0.0.1",
        "PUSHER_PORT": str(port),
        "PUSHER_SSL": "false",
        "PUSHER_CLUSTER": "",
    }
    SERVER_LOG.parent.mkdir(exist_ok=True)
    log = SERVER_LOG.open("wb")  # open as long as the server runs
    process = subprocess.Popen(
        # -v 0 as deployed (Procfile, deploy/): no daphne access log beside the app's own.
        [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), ASGI_APP],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120  # a loaded 2-core machine took over 30 s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            # /healthz, not /api/schema: under load a schema request timed out and was
            # retried, and two first generations at once broke drf-spectacular for the
            # server's life (a race loading its extensions; every schema request a 500).
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not start: {SERVER_LOG.read_text(errors='replace')}")


def run_api(dsn: str, port: int, callers: Callers, repetitions: int) -> list[dict[str, Any]]:
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

        def most_tasks(column: str) -> str:
            """The big workspace's `column` value (not null) that most of its tasks have."""
            return str(
                conn.execute(
                    f"SELECT {column} FROM tasks_task WHERE workspace_id = %s "
                    f"AND {column} IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
                    (ws0,),
                ).fetchone()[0]
            )  # type: ignore[index]

        # Its largest repository (a fifth of its tasks) and busiest robot.
        repo, robot = most_tasks("repository_id"), most_tasks("robot_id")
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
        # A fifth of the titles say "fix cache"; "Task 4242" is in 9 of the big
        # workspace's 200,000 (1 at scale 0.1): a common term and a rare one.
        Endpoint("tasks search", f"/api/tasks?workspaceId={ws0}&search=cache&limit=50"),
        Endpoint(
            "tasks search (rare term)",
            f"/api/tasks?workspaceId={ws0}&search=Task%204242&limit=50",
        ),
        Endpoint("tasks deep page", f"/api/tasks?workspaceId={ws0}&page=1000&limit=50"),
        Endpoint(
            "tasks latestMessage",
            f"/api/tasks?workspaceId={ws0}&limit=50&includeLatestMessage=true",
        ),
        Endpoint("tasks by repository", f"/api/tasks?workspaceId={ws0}&repoId={repo}&limit=50"),
        Endpoint("tasks by robot", f"/api/tasks?workspaceId={ws0}&robotId={robot}&limit=50"),
        Endpoint("tasks by source", f"/api/tasks?workspaceId={ws0}&sourceType=WEBHOOK&limit=50"),
        Endpoint("tasks by event", f"/api/tasks?workspaceId={ws0}&eventType=issue&limit=50"),
        # Why a task waits, a worker alive: the backlog's tasks (5% of all), and the few
        # whose group has a run going on (64 runs go on, whatever the scale).
        Endpoint("tasks queued", f"/api/tasks?workspaceId={ws0}&queueReason=queued&limit=50"),
        Endpoint(
            "tasks group busy", f"/api/tasks?workspaceId={ws0}&queueReason=group_busy&limit=50"
        ),
        Endpoint("tasks/stats (big ws)", f"/api/tasks/stats?workspaceId={ws0}"),
        Endpoint("tasks/stats (repository)", f"/api/tasks/stats?workspaceId={ws0}&repoId={repo}"),
        Endpoint("tasks/stats (robot)", f"/api/tasks/stats?workspaceId={ws0}&robotId={robot}"),
        Endpoint("tasks/stats (all ws)", "/api/tasks/stats"),
        Endpoint(
            "tasks/volume 1 year",
            f"/api/tasks/volume?workspaceId={ws0}&startDay={year_ago}&endDay={today}",
        ),
        Endpoint(
            "tasks/volume 1 year (repository)",
            f"/api/tasks/volume?workspaceId={ws0}&repoId={repo}&startDay={year_ago}&endDay={today}",
        ),
        Endpoint("dashboard/sidebar", f"/api/dashboard/sidebar?workspaceId={ws0}"),
        Endpoint("task messages", f"/api/tasks/{task}/messages"),
        Endpoint("task logs", f"/api/tasks/{task}/logs"),
    ]
    first = urllib.request.urlopen(
        urllib.request.Request(
            f"http://127.0.0.1:{port}/api/tasks?workspaceId={ws0}&limit=50&cursor=",
            headers={"Authorization": f"Bearer {callers.token}"},
        )
    )
    cursor = json_body(first.read())["pagination"]["nextCursor"]
    endpoints.insert(
        7,
        Endpoint("tasks cursor page", f"/api/tasks?workspaceId={ws0}&limit=50&cursor={cursor}"),
    )
    endpoints += [
        Endpoint(f"admin: {name}", f"/admin/{model}/", staff=True)
        for name, model in (
            ("tasks", "tasks/task"),
            ("chat messages", "chat/chatmessage"),
            ("runs", "runs/taskrun"),
            ("outbox", "realtime/outboxevent"),
        )
    ]
    print(f"API: {len(endpoints)} endpoints x {repetitions} repetitions, a worker alive")
    with a_worker_alive():
        return measure(endpoints, port=port, callers=callers, dsn=dsn, repetitions=repetitions)


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
        "outbox_events": "realtime_outboxevent",
    }
    with psycopg.connect(dsn) as conn:
        return {
            name: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index,arg-type]
            for name, table in tables.items()
        }


if __name__ == "__main__":
    raise SystemExit(main())
