"""config.apitext: columns of a values() query written by PostgreSQL as the API writes
them, and as they are on SQLite."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.models import F

from accounts.models import Workspace
from chat.models import ChatMessage
from config.apitext import as_text
from config.compiled import CompiledQuery
from tasks.events import iso
from tasks.models import Task
from tests.factories import TaskFactory, WorkspaceFactory

MOMENTS = [
    datetime(2026, 12, 4, 11, 12, 57, tzinfo=UTC),  # no microseconds: none written
    datetime(2026, 12, 4, 11, 12, 57, 723400, tzinfo=UTC),  # trailing zeros kept
    datetime(2026, 12, 4, 11, 12, 57, 1, tzinfo=UTC),
    datetime(999, 1, 2, 3, 4, 5, 600000, tzinfo=UTC),  # a year of three digits
]


@pytest.mark.parametrize("moment", MOMENTS, ids=iso)
def test_a_datetime_and_a_uuid_read_as_the_api_writes_them(db, moment):
    workspace = WorkspaceFactory()
    Workspace.objects.filter(pk=workspace.pk).update(created_at=moment)
    rows = as_text(Workspace.objects.filter(pk=workspace.pk).values("id", "created_at"), "id")
    rows = as_text(rows, "created_at")
    (row,) = rows
    if connection.vendor == "postgresql":
        assert row == {"id": str(workspace.pk), "created_at": iso(moment)}
    else:  # as values() reads them: Django's converters, from SQLite's text
        assert row == {"id": workspace.pk, "created_at": moment}


def test_a_foreign_key_and_a_compiled_query_take_it_too(db):
    task = TaskFactory()
    query = CompiledQuery(
        lambda: as_text(Task.objects.values("id", "workspace_id"), "workspace_id")
    )
    (row,) = query.rows()
    expected = str(task.workspace_id) if connection.vendor == "postgresql" else task.workspace_id
    assert row == {"id": task.pk, "workspace_id": expected}


def test_a_null_stays_null(db):
    ChatMessage.objects.create(task=TaskFactory(), message="hi", role="USER")
    (row,) = as_text(ChatMessage.objects.values("reply_id", "timestamp"), "reply_id")
    assert row["reply_id"] is None


@pytest.mark.parametrize("order", ["-created_at", F("created_at").desc()], ids=["name", "F"])
def test_an_order_key_is_refused(db, order):
    """Django orders a values() query by the selected column's position: written as text,
    the order would be the text's."""
    with pytest.raises(ValueError, match="order key"):
        as_text(Workspace.objects.values("id", "created_at").order_by(order), "created_at")


def test_only_columns_of_the_values_are_taken(db):
    with pytest.raises(ValueError, match="not a column"):
        as_text(Workspace.objects.values("id"), "created_at")
