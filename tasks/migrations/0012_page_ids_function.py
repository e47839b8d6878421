"""`taskdesk_page_ids(uuid[])`: the ids of a task list page, as rows with a fixed row
estimate (PostgreSQL only).

A filtered page's rows statement held the ids' subquery, whose filters are parameters:
PostgreSQL's custom plans for it were always cheaper on paper than its generic plan, so
it planned the statement (five joins, the queue reason's subplans) on every request:
3.7 ms of planning for 1.3 ms of execution. tasks.selectors.task_row_values reads a
filtered page's ids first and gives them through this function: the statement's text
never changes, and with the same row estimate whatever the array (ROWS 1; `unnest` of a
constant array would be estimated by its length), its generic plan costs what its custom
ones do, so PostgreSQL prepares it once.
"""

from django.db import migrations

CREATE = (
    "CREATE OR REPLACE FUNCTION taskdesk_page_ids(uuid[]) RETURNS SETOF uuid "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE ROWS 1 AS 'SELECT unnest($1)'"
)
DROP = "DROP FUNCTION IF EXISTS taskdesk_page_ids(uuid[])"


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("tasks", "0011_task_count_priority")]

    operations = [migrations.RunPython(create, drop)]
