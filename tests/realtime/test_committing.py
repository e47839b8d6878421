"""`committing()`: a change whose events are its last word (a run's claim and end). On
PostgreSQL its events' statement and its COMMIT go to the server in one round trip; the
change, its events and their send behave as with `transaction.atomic()` and `together()`."""

import threading

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from config import fused
from realtime import events
from realtime.events import committing, publish
from realtime.models import OutboxChannel, OutboxEvent
from tasks.models import Task
from tests import recording
from tests.factories import TaskFactory
from tests.realtime.test_outbox import waiting_for_the_row

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_change_and_its_events_commit_together_and_go_out_in_one_statement(workspace):
    task = TaskFactory(workspace=workspace, title="Before")
    with CaptureQueriesContext(connection) as queries, committing():
        Task.objects.filter(pk=task.pk).update(title="After")
        publish("private-task-a", "e", 1)
        publish("private-workspace-w", "e", 2)
        publish("private-task-a", "e", 3)
    sql = [q["sql"] for q in queries]
    written = [i for i, s in enumerate(sql) if "INSERT INTO" in s and "realtime_outboxevent" in s]
    committed = sql.index("COMMIT")
    assert written and max(written) < committed
    if connection.vendor == "postgresql":
        # One statement writes the three events, the transaction's last before its
        # COMMIT; it leased their channels for the batch, which marks them sent in one.
        assert written == [committed - 1] and len(sql) == committed + 2
    task.refresh_from_db()
    assert task.title == "After"
    assert list(OutboxEvent.objects.order_by("channel", "seq").values_list("channel", "seq")) == [
        ("private-task-a", 1),
        ("private-task-a", 2),
        ("private-workspace-w", 1),
    ]
    assert [e["data"] for e in recording.recorded] == [1, 3, 2]
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
    assert not OutboxChannel.objects.exclude(lease_owner="").exists()


def test_an_error_in_the_block_writes_neither_the_change_nor_its_events(workspace):
    task = TaskFactory(workspace=workspace, title="Before")
    with pytest.raises(RuntimeError), committing():
        Task.objects.filter(pk=task.pk).update(title="After")
        publish("private-task-a", "e", "lost")
        raise RuntimeError("the change fails")
    task.refresh_from_db()
    assert task.title == "Before"
    assert not OutboxEvent.objects.exists() and recording.recorded == []


@pytest.fixture
def refused_events():
    """PostgreSQL refuses every event of the channel `private-task-refused`, at the
    server: the events' statement fails where it runs, with the COMMIT sent behind it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'no events on %', NEW.channel; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_event BEFORE INSERT ON realtime_outboxevent FOR EACH ROW "
            "WHEN (NEW.channel = 'private-task-refused') EXECUTE FUNCTION refuse_event()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_event ON realtime_outboxevent")
        cursor.execute("DROP FUNCTION refuse_event()")


@pytest.mark.postgres_only
def test_events_the_server_refuses_roll_the_change_back_and_the_connection_goes_on(
    workspace, refused_events
):
    task = TaskFactory(workspace=workspace, title="Before")
    with pytest.raises(DatabaseError, match="no events on private-task-refused"), committing():
        Task.objects.filter(pk=task.pk).update(title="After")
        publish("private-task-refused", "e", "refused")
    task.refresh_from_db()
    assert task.title == "Before"
    assert not OutboxEvent.objects.exists() and not OutboxChannel.objects.exists()
    with committing():
        Task.objects.filter(pk=task.pk).update(title="Again")
        publish("private-task-a", "e", "kept")
    task.refresh_from_db()
    assert task.title == "Again"
    assert [e["data"] for e in recording.recorded] == ["kept"]
    assert connection.get_autocommit() and not connection.in_atomic_block


def test_inside_a_transaction_it_commits_with_it(workspace):
    task = TaskFactory(workspace=workspace, title="Before")
    with pytest.raises(RuntimeError), transaction.atomic():
        with committing():
            Task.objects.filter(pk=task.pk).update(title="After")
            publish("private-task-a", "e", "lost")
        raise RuntimeError("the enclosing change fails")
    task.refresh_from_db()
    assert task.title == "Before"
    assert not OutboxEvent.objects.exists() and recording.recorded == []
    with transaction.atomic():
        with committing():
            publish("private-task-a", "e", "kept")
        assert recording.recorded == []  # not before the enclosing commit
    assert [e["data"] for e in recording.recorded] == ["kept"]


def test_a_fused_blocks_writes_go_out_with_the_events(workspace):
    """A run's claim and end (config.fused inside committing): the lines, the task's row
    and its counters are written with the transaction's events, in their statement."""
    task = TaskFactory(workspace=workspace, title="Before")
    with CaptureQueriesContext(connection) as queries, committing(), fused.fused():
        fused.write("UPDATE tasks_task SET title = %s WHERE id = %s", ["After", task.pk.hex])
        publish("private-task-a", "e", 1)
    writes = [q["sql"] for q in queries if q["sql"].startswith(("UPDATE", "WITH", "INSERT"))]
    if connection.vendor == "postgresql":
        assert len(writes) == 2  # the change and its events; then the batch marks them sent
        assert "UPDATE tasks_task" in writes[0] and "realtime_outboxevent" in writes[0]
    task.refresh_from_db()
    assert task.title == "After"
    assert OutboxEvent.objects.get().data == 1 and recording.recorded[0]["data"] == 1


def test_a_fused_blocks_writes_without_events_are_written_at_the_end(workspace):
    task = TaskFactory(workspace=workspace, title="Before")
    with committing(), fused.fused():
        fused.write("UPDATE tasks_task SET title = %s WHERE id = %s", ["After", task.pk.hex])
    task.refresh_from_db()
    assert task.title == "After" and not OutboxEvent.objects.exists()


@pytest.mark.postgres_only
def test_the_fused_writes_take_their_rows_before_the_events_take_the_channels(workspace):
    """Every writer locks its rows (a task's, the counters') before its events lock their
    channels' rows. Sent in one statement, the fused writes still come first: while they
    wait for a row that another transaction holds, the channel's row is free."""
    task = TaskFactory(workspace=workspace, title="Before")
    publish("private-task-a", "e", 0)  # the channel's row exists
    errors: list[BaseException] = []

    def end_of_a_run() -> None:
        try:
            with committing(), fused.fused():
                fused.write(
                    "UPDATE tasks_task SET title = %s WHERE id = %s", ["After", task.pk.hex]
                )
                publish("private-task-a", "e", 1)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    with psycopg.connect(**connection.get_connection_params()) as holder:
        holder.execute("SELECT 1 FROM tasks_task WHERE id = %s FOR UPDATE", [task.pk])
        writer = threading.Thread(target=end_of_a_run)
        writer.start()
        waiting_for_the_row()
        with psycopg.connect(**connection.get_connection_params()) as other:
            other.execute("SET lock_timeout = '2s'")
            other.execute(
                "SELECT 1 FROM realtime_outboxchannel WHERE name = 'private-task-a' FOR UPDATE"
            )
            other.rollback()
        holder.rollback()
        writer.join(10)
    assert not errors
    task.refresh_from_db()
    assert task.title == "After"
    assert list(OutboxEvent.objects.order_by("seq").values_list("seq", "data")) == [(1, 0), (2, 1)]


def test_a_hook_that_reads_sees_the_fused_writes(workspace):
    """A `published` hook that reads the database (the integrations app's, when an
    endpoint listens) says so first: the fused writes are done before it runs."""
    task = TaskFactory(workspace=workspace, title="Before")
    seen: list[str] = []

    def reads(**kwargs: object) -> bool:
        return True

    def hook(**kwargs: object) -> None:
        seen.append(Task.objects.get(pk=task.pk).title)

    events.reads_when_published.connect(reads, dispatch_uid="test-reads")
    events.published.connect(hook, dispatch_uid="test-hook")
    try:
        with committing(), fused.fused():
            fused.write("UPDATE tasks_task SET title = %s WHERE id = %s", ["After", task.pk.hex])
            publish("private-task-a", "e", 1)
    finally:
        events.reads_when_published.disconnect(dispatch_uid="test-reads")
        events.published.disconnect(dispatch_uid="test-hook")
    assert seen == ["After"]
    assert OutboxEvent.objects.get().data == 1
