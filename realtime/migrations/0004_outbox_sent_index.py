"""Retention's scan of delivered events (`sent_at < cutoff`, oldest first) read from an
index: without one, each housekeeping pass went through the whole outbox in id order
when nothing was old (324 ms at 2M events, every minute). Only delivered events are in
it: the INSERT of a new event adds nothing. PostgreSQL only, built CONCURRENTLY."""

from django.db import migrations

from config.indexes import concurrent_indexes

INDEXES = {
    "outbox_sent_idx": "ON realtime_outboxevent (sent_at) WHERE sent_at IS NOT NULL",
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("realtime", "0003_channel_sent_seq")]

    operations = [concurrent_indexes(INDEXES)]
