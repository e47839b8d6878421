"""Search through trigram indexes, and an index for every order the task list offers
(EXPLAIN plans in docs/ARCHITECTURE.md, "How it scales").

Search: `search=` is `UPPER(col::text) LIKE UPPER('%term%')` on title, description and
branch (Django's icontains); GIN indexes of pg_trgm over the same expressions answer it
(a BitmapOr of the three) instead of reading every task. Not partial: the staff admin
searches deleted tasks too.

Orders: config.pagination sorts a NOT NULL key plainly (`updated_at DESC, id DESC`) and a
nullable one nulls last, so one btree per key serves both directions (a backward scan
is the other direction). `task_ws_recent_cover_idx` serves the default order and covers
the columns the default filters read, so a deep page's ids come from the index alone;
it replaces `task_ws_recent_nl_idx` (0002), whose nulls-last order the list no longer
asks for. `task_ws_workflow_recent_idx` (0002) stays for the sidebar's nulls-last order.
createdAt uses `task_ws_created_idx` (0001) with an incremental sort on id; workflowStatus
ascending uses `task_ws_workflow_idx` (0001) likewise; descending (nulls last) has its
own. priority sorts by a rank expression that no index serves.

PostgreSQL only (SQLite keeps its plain scans), built CONCURRENTLY.
"""

from django.db import migrations

from config.indexes import concurrent_indexes

EXTENSION = "CREATE EXTENSION IF NOT EXISTS pg_trgm"

INDEXES = {
    "task_title_trgm_idx": "ON tasks_task USING gin (UPPER((title)::text) gin_trgm_ops)",
    "task_description_trgm_idx": "ON tasks_task USING gin (UPPER(description) gin_trgm_ops)",
    "task_branch_trgm_idx": "ON tasks_task USING gin (UPPER((branch)::text) gin_trgm_ops)",
    "task_ws_recent_cover_idx": (
        "ON tasks_task (workspace_id, updated_at DESC, id DESC) "
        "INCLUDE (archived, status, workflow_status) WHERE NOT deleted"
    ),
    "task_ws_workflow_updated_idx": (
        "ON tasks_task (workspace_id, workflow_status, updated_at DESC, id DESC) WHERE NOT deleted"
    ),
    "task_ws_workflow_desc_idx": (
        "ON tasks_task (workspace_id, workflow_status DESC NULLS LAST, id DESC) WHERE NOT deleted"
    ),
    "task_ws_title_idx": "ON tasks_task (workspace_id, title, id) WHERE NOT deleted",
    "task_ws_status_idx": "ON tasks_task (workspace_id, status, id) WHERE NOT deleted",
}
REPLACED = {
    "task_ws_recent_nl_idx": (
        "ON tasks_task (workspace_id, updated_at DESC NULLS LAST, id DESC NULLS LAST) "
        "WHERE NOT deleted"
    ),
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("tasks", "0006_repository_webhook_secret")]

    operations = [concurrent_indexes(INDEXES, replaces=REPLACED, setup=EXTENSION)]
