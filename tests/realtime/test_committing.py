"""`committing()`: a change whose events are its last word (a run's claim and end). On
PostgreSQL its events' statement and its COMMIT go to the server in one round trip; the
change, its events and their send behave as with `transaction.atomic()` and `together()`."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from realtime.events import committing, publish
from realtime.models import OutboxChannel, OutboxEvent
from tasks.models import Task
from tests import recording
from tests.factories import TaskFactory

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
