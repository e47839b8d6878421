"""The staff admin's message changelist at millions of messages: newest first from
`chatmessage_time_idx` (read backwards), and its search (`UPPER(message::text) LIKE
UPPER('%term%')`, Django's icontains) from a pg_trgm GIN index over the same expression.

PostgreSQL only (pg_trgm is created by tasks 0007; SQLite keeps plain scans), built
CONCURRENTLY so a deployment keeps writing messages while they build.
"""

from django.db import migrations

from config.indexes import concurrent_indexes

INDEXES = {
    "chatmessage_time_idx": "ON chat_chatmessage (timestamp, id)",
    "chatmessage_message_trgm_idx": (
        "ON chat_chatmessage USING gin (UPPER(message) gin_trgm_ops)"
    ),
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("chat", "0002_initial"), ("tasks", "0007_search_and_order_indexes")]

    operations = [concurrent_indexes(INDEXES)]
