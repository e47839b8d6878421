"""The staff admin's message changelist at millions of messages: newest first from
`chatmessage_time_idx` (read backwards), and its search (`UPPER(message::text) LIKE
UPPER('%term%')`, Django's icontains) from a pg_trgm GIN index over the same expression.

PostgreSQL only (pg_trgm is created by tasks 0007; SQLite keeps plain scans), built
CONCURRENTLY so a deployment keeps writing messages while they build.
"""

from django.db import migrations

INDEXES = {
    "chatmessage_time_idx": "ON chat_chatmessage (timestamp, id)",
    "chatmessage_message_trgm_idx": (
        "ON chat_chatmessage USING gin (UPPER(message) gin_trgm_ops)"
    ),
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("chat", "0002_initial"), ("tasks", "0007_search_and_order_indexes")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
