"""cProfile one API request through Django's test client against a bench database
(`bench/run.py --generate-only` first): where Python spends a request's time beside
its SQL. Prints the top functions by cumulative and by own time.

    BENCH_DATABASE=taskdesk_bench_0_1 python bench/profile_request.py /api/auth/me --repeat 50
"""

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import server_env  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+", help="request paths; {ws0} and {task} are filled in")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--top", type=int, default=35)
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
    for raw in args.paths:
        path = raw.format(ws0=ws0, task=task)
        for _ in range(3):
            response = client.get(path)
            assert response.status_code == 200, (path, response.content[:300])
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


if __name__ == "__main__":
    raise SystemExit(main())
