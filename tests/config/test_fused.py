"""config.fused: writes that nobody reads back, kept in a block and sent at its end: one
statement on PostgreSQL, one after the other on SQLite; at once outside a block."""

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from accounts.models import Workspace
from chat.models import ChatMessage
from config import fused
from tasks import counters, locks
from tasks.models import Task, TaskCount
from tests.factories import TaskFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def rename(workspace: Workspace, name: str) -> fused.Statement:
    return "UPDATE accounts_workspace SET name = %s WHERE id = %s", [name, workspace.pk.hex]


def names(*workspaces: Workspace) -> list[str]:
    return [Workspace.objects.get(pk=w.pk).name for w in workspaces]


class Tally:
    def __init__(self) -> None:
        self.added: list[str] = []

    def statements(self) -> list[fused.Statement]:
        return []


def test_a_blocks_writes_run_at_its_end():
    """The same on both databases but for how the kept statements are sent."""
    one, two = WorkspaceFactory(name="One"), WorkspaceFactory(name="Two")
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        with fused.fused():
            fused.write(*rename(one, "First"))
            fused.write(*rename(two, "Second"))
            during = names(one, two)
        after = names(one, two)
    writes = [q["sql"] for q in queries if q["sql"].startswith(("UPDATE", "WITH"))]
    assert during == ["One", "Two"]  # kept until the block's end
    assert after == ["First", "Second"]
    if connection.vendor == "postgresql":
        assert len(writes) == 1 and writes[0].startswith("WITH w0 AS (UPDATE")
    else:  # no data-modifying WITH: one after the other
        assert len(writes) == 2


def test_outside_a_block_a_write_runs_at_once_and_nothing_is_merged():
    one = WorkspaceFactory(name="One")
    fused.write(*rename(one, "First"))
    assert names(one) == ["First"]
    assert fused.merged("tally", Tally) is None


def test_a_block_gives_one_merged_object_per_key():
    with transaction.atomic(), fused.fused():
        first = fused.merged("tally", Tally)
        again = fused.merged("tally", Tally)
    assert first is not None and first is again


def test_an_exception_drops_what_the_block_kept():
    one = WorkspaceFactory(name="One")
    with pytest.raises(RuntimeError), transaction.atomic(), fused.fused():
        fused.write(*rename(one, "First"))
        raise RuntimeError("stop")
    assert names(one) == ["One"]


def test_nested_blocks_join_the_outer_one():
    one = WorkspaceFactory(name="One")
    with transaction.atomic(), fused.fused():
        with fused.fused():
            fused.write(*rename(one, "First"))
        inner_end = names(one)
    assert names(one) == ["First"]
    assert inner_end == ["One"]


def test_a_blocks_counter_changes_add_up_to_one_upsert(workspace):
    """Two changes of the same counts in one block: PostgreSQL applies one statement's
    changes to a row once, so the block adds them up before it writes them."""
    task = TaskFactory(workspace=workspace, priority="LOW")
    with CaptureQueriesContext(connection) as queries, transaction.atomic(), fused.fused():
        for priority in ("HIGH", "LOW", "HIGH"):
            before = counters.fact_of(task)
            Task.objects.filter(pk=task.pk).update(priority=priority)
            task.priority = priority
            counters.changed(task, before)
    upserts = [q["sql"] for q in queries if "tasks_taskcount" in q["sql"]]
    assert len(upserts) == 1
    assert counters.drift() == 0
    held = TaskCount.objects.filter(workspace=workspace, priority="HIGH")
    assert sum(held.values_list("n", flat=True)) == 1


def test_a_new_row_is_kept_like_a_write(workspace):
    task = TaskFactory(workspace=workspace)
    message = ChatMessage(task=task, message="Kept", role="ASSISTANT")
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        with fused.fused():
            fused.insert(message)
            during = ChatMessage.objects.filter(pk=message.pk).exists()
        after = ChatMessage.objects.get(pk=message.pk)
    assert (after.message, after.role, after.timestamp is not None) == ("Kept", "ASSISTANT", True)
    assert not message._state.adding
    inserts = [q["sql"] for q in queries if "INSERT" in q["sql"] and "chat_chatmessage" in q["sql"]]
    assert len(inserts) == 1 and not during


def test_a_blocks_changes_of_one_row_are_one_update(workspace):
    task = TaskFactory(workspace=workspace, title="Before", message_count=0)
    with CaptureQueriesContext(connection) as queries, transaction.atomic(), fused.fused():
        locks.update_locked(task, {"message_count": 1, "title": "First"})
        locks.update_locked(task, {"title": "Second", "retries": 2})
    task.refresh_from_db()
    assert (task.message_count, task.title, task.retries) == (1, "Second", 2)
    assert sum(q["sql"].count('UPDATE "tasks_task"') for q in queries) == 1


def test_a_blocks_update_takes_plain_values_only(workspace):
    task = TaskFactory(workspace=workspace)
    with transaction.atomic(), fused.fused(), pytest.raises(ValueError):
        locks.update_locked(task, {"retries": F("retries") + 1})
    locks.update_locked(task, {"retries": F("retries") + 1})  # outside a block: as Django's
    task.refresh_from_db()
    assert task.retries == 1
