"""Search inside a workspace reads that workspace's matches only (PostgreSQL only).

0007's trigram indexes held the term's trigrams of every workspace: a search in one
workspace took all matches of the table and kept its own, or (with a common term) read
the whole workspace from its btree and ran UPPER() and LIKE on each row's three columns.
The page-mode `totalCount` of `search=cache` in the big workspace of the 1M-task bench
(200,000 tasks, 32,121 matches) took 133 ms that way, with two parallel workers.

These indexes put the workspace first (`btree_gin` lets a GIN index hold a uuid beside
pg_trgm's trigrams), so the index scan itself intersects the workspace with the term:
the same count reads 40,132 candidates and takes 50-80 ms in one process (3.3 ms
instead of 25 ms at 100k tasks). A search over all workspaces (the staff admin's) still
uses them: GIN answers a condition on its second column alone.

Built CONCURRENTLY, like 0007, whose three indexes they replace. Then the table is
analyzed: the planner's estimate of a term's matches comes from the statistics of the
indexed expressions, which only ANALYZE gathers. Without them it guessed 828 matches
for `search=cache` (32,121) and read and sorted them all for a page of 50: 87 ms where
walking `task_ws_recent_cover_idx` takes 2.
"""

from typing import Any

from django.db import migrations

from config.indexes import concurrent_indexes

EXTENSION = "CREATE EXTENSION IF NOT EXISTS btree_gin"

INDEXES = {
    "task_ws_title_trgm_idx": (
        "ON tasks_task USING gin (workspace_id, UPPER((title)::text) gin_trgm_ops)"
    ),
    "task_ws_description_trgm_idx": (
        "ON tasks_task USING gin (workspace_id, UPPER(description) gin_trgm_ops)"
    ),
    "task_ws_branch_trgm_idx": (
        "ON tasks_task USING gin (workspace_id, UPPER((branch)::text) gin_trgm_ops)"
    ),
}
REPLACED = {
    "task_title_trgm_idx": "ON tasks_task USING gin (UPPER((title)::text) gin_trgm_ops)",
    "task_description_trgm_idx": "ON tasks_task USING gin (UPPER(description) gin_trgm_ops)",
    "task_branch_trgm_idx": "ON tasks_task USING gin (UPPER((branch)::text) gin_trgm_ops)",
}


def analyze(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ANALYZE tasks_task")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("tasks", "0012_page_ids_function")]

    operations = [
        concurrent_indexes(INDEXES, replaces=REPLACED, setup=EXTENSION),
        migrations.RunPython(analyze, migrations.RunPython.noop),
    ]
