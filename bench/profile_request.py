"""cProfile one API request through Django's test client against a bench database
(`bench/run.py --generate-only` first): where Python spends a request's time beside
its SQL. Prints the top functions by cumulative and by own time; with `--cpu`, no
profiler: the minimum CPU time of this process per request over `--rounds` rounds of
`--repeat` requests (the figure a busy shared machine disturbs least), and the wall time
of its SQL (captured once, run the same way through Django's cursor).

    BENCH_DATABASE=taskdesk_bench_0_1 python bench/profile_request.py /api/auth/me --repeat 50
    BENCH_DATABASE=taskdesk_bench_0_1 python bench/profile_request.py --cpu \
        /api/auth/me '/api/tasks?workspaceId={ws0}&limit=50&cursor={cursor}'

`{ws0}` is the big workspace, `{task}` a task of it with logs, `{cursor}` the
nextCursor of its first 50-row cursor page (as bench/run.py's "tasks cursor page").
"""

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import server_env  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+", help="request paths; {ws0}, {task}, {cursor}")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--cpu", action="store_true", help="time, do not profile")
    parser.add_argument("--rounds", type=int, default=5, help="with --cpu")
    args = parser.parse_args()
    admin_url = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    dsn = admin_url.rsplit("/", 1)[0] + "/" + os.environ.get("BENCH_DATABASE", "taskdesk_bench_0_1")
    os.environ.update(server_env(dsn.replace("postgresql://", "postgres://", 1)))
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from accounts.models import ApiToken, User

    _, token = ApiToken.issue(User.objects.get(username="bench"), "profile")
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM accounts_workspace WHERE slug = 'ws0'")
        ws0 = cursor.fetchone()[0]
        cursor.execute(
            "SELECT id FROM tasks_task WHERE workspace_id = %s AND log_seq > 0 AND NOT deleted "
            "ORDER BY id LIMIT 1",
            [ws0],
        )
        task = cursor.fetchone()[0]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    first = client.get(f"/api/tasks?workspaceId={ws0}&limit=50&cursor=")
    cursor_value = first.json()["pagination"]["nextCursor"]
    for raw in args.paths:
        path = raw.format(ws0=ws0, task=task, cursor=cursor_value)
        for _ in range(3):
            response = client.get(path)
            assert response.status_code == 200, (path, response.content[:300])
        if args.cpu:
            time_cpu(client, path, len(response.content), args.repeat, args.rounds)
            continue
        started = time.perf_counter()
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.repeat):
            client.get(path)
        profile.disable()
        per = (time.perf_counter() - started) * 1000 / args.repeat
        size = len(response.content)
        print(f"\n=== {path}: {per:.2f} ms per request under the profiler, {size} bytes")
        stats = pstats.Stats(profile).strip_dirs()
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
    return 0


def time_cpu(client: Any, path: str, size: int, repeat: int, rounds: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(path)
    statements = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))
    ]
    cpu, wall, sql = [], [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        for _ in range(repeat):
            client.get(path)
        cpu.append((time.process_time() - started_cpu) * 1000 / repeat)
        wall.append((time.perf_counter() - started) * 1000 / repeat)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for _ in range(repeat):
                for statement in statements:
                    cursor.execute(statement)
                    if cursor.description is not None:
                        cursor.fetchall()
        sql.append((time.perf_counter() - started) * 1000 / repeat)
    print(
        f"{path}: cpu min {min(cpu):.2f} ms, wall min {min(wall):.2f} ms, its SQL (wall, "
        f"{len(statements)} statements, unprepared) min {min(sql):.2f} ms, {size} bytes",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
