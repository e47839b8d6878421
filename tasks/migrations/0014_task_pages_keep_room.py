"""The task table keeps a fifth of each page free (PostgreSQL only), so that an UPDATE
that changes no indexed column stays on its page as a HOT update: no new entry in any of
the table's 26 indexes (three of them trigram GIN indexes).

The one such UPDATE that repeats is a run's batch of log lines taking its seq numbers
from its task's row (`log_seq`, runs.logs), twice a second while a run streams. Without
room, the page that the run's claim moved the task's row to (its status is indexed) is
soon filled by other rows, and every batch after that wrote a new entry in every index
of the table. In the 1M-task bench's execution part (1,000 runs in the floor and in each
worker count), 19% of the task table's updates were HOT before and 39% after: the log batches,
whose statement took 0.31 ms on average instead of 0.43-0.53 ms. On that table, an
UPDATE of a task costs PostgreSQL 0.23-0.32 ms of CPU with its indexes and 0.07 ms
without them; a log-heavy run pays the difference on every batch.

It applies to pages written from now on: rows already in full pages get the room when
they move. The table grows by up to a quarter for it.
"""

from typing import Any

from django.db import migrations

FILLFACTOR = 80


def keep_room(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE tasks_task SET (fillfactor = {FILLFACTOR})")


def fill_up(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE tasks_task RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("tasks", "0013_search_indexes_per_workspace")]

    operations = [migrations.RunPython(keep_room, fill_up)]
