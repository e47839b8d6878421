"""The outbox: events written in the change's transaction, sent after commit, in seq
order per channel, kept and retried with backoff when the publisher fails."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.exceptions import PayloadTooLarge
from realtime import dispatch, events
from realtime.events import (
    MAX_EVENT_BYTES,
    publish,
    task_channel,
    together,
    workspace_channel,
)
from realtime.models import OutboxChannel, OutboxEvent
from realtime.publishers import Outgoing
from tests import recording
from tests.plans import rows_read


@pytest.fixture
def undispatched(monkeypatch):
    """Events committed without their commit's batch (say, its process stopped): no
    dispatch after commit, and no lease taken for one; they wait for the periodic job.
    For tests in one transaction that never commits (the `db` fixture), where a batch
    would otherwise hold the channel's lease for a send that never comes."""
    monkeypatch.setattr(events, "batch_on_commit", lambda channels: None)


class FailingPublisher:
    def __init__(self):
        self.calls = 0

    def send(self, outgoing: list[Outgoing]) -> None:
        self.calls += 1
        raise ConnectionError("push service down")


class ListPublisher:
    def __init__(self):
        self.sent: list[Outgoing] = []

    def send(self, outgoing: list[Outgoing]) -> None:
        self.sent.extend(outgoing)


def test_channel_names_have_the_private_prefix_by_default(settings):
    assert task_channel("t1") == "private-task-t1"
    assert workspace_channel("acme") == "private-workspace-acme"
    settings.REALTIME_PUBLIC_CHANNELS = True
    assert task_channel("t1") == "task-t1"


def test_publish_writes_the_event_with_consecutive_seq_per_channel(db):
    publish("private-task-a", "new-message", "m1")
    publish("private-task-b", "new-message", "m2")
    publish("private-task-a", "task-title-update", {"newTitle": "x"})
    rows = list(OutboxEvent.objects.order_by("id").values_list("channel", "seq", "event"))
    assert rows == [
        ("private-task-a", 1, "new-message"),
        ("private-task-b", 1, "new-message"),
        ("private-task-a", 2, "task-title-update"),
    ]


def test_events_published_together_are_numbered_in_order_and_written_at_once(db):
    publish("private-task-a", "new-message", "m0")
    with CaptureQueriesContext(connection) as queries, together():
        publish("private-task-a", "new-message", "m1", exclude_socket_id="1.2")
        publish("private-workspace-w", "task-updated", {"taskId": "a", "n": 1})
        publish("private-task-a", "workflow-status-update", {"workflowStatus": "PENDING"})
        assert not OutboxEvent.objects.filter(seq__gt=1).exists()  # not written yet
    rows = list(
        OutboxEvent.objects.order_by("id").values_list(
            "channel", "seq", "event", "data", "exclude_socket_id"
        )
    )
    assert rows == [
        ("private-task-a", 1, "new-message", "m0", None),
        ("private-task-a", 2, "new-message", "m1", "1.2"),
        ("private-workspace-w", 1, "task-updated", {"taskId": "a", "n": 1}, None),
        ("private-task-a", 3, "workflow-status-update", {"workflowStatus": "PENDING"}, None),
    ]
    assert OutboxChannel.objects.get(name="private-task-a").last_seq == 3
    inserts = [q["sql"] for q in queries if "INSERT INTO" in q["sql"] and "outboxevent" in q["sql"]]
    assert len(inserts) == (1 if connection.vendor == "postgresql" else 3)


def test_a_later_state_of_the_same_thing_in_one_block_replaces_the_earlier(db):
    with together():
        publish("private-workspace-w", "task-updated", {"taskId": "a", "n": 1}, replaces="a")
        publish("private-workspace-w", "task-updated", {"taskId": "b", "n": 1}, replaces="b")
        publish("private-workspace-w", "task-created", {"taskId": "a", "n": 2}, replaces="a")
        publish("private-workspace-v", "task-updated", {"taskId": "a", "n": 3}, replaces="a")
        publish("private-workspace-w", "task-updated", {"taskId": "a", "n": 4}, replaces="a")
    publish("private-workspace-w", "task-updated", {"taskId": "a", "n": 5}, replaces="a")
    rows = list(OutboxEvent.objects.order_by("id").values_list("channel", "seq", "event", "data"))
    assert rows == [
        ("private-workspace-w", 1, "task-updated", {"taskId": "b", "n": 1}),
        ("private-workspace-w", 2, "task-created", {"taskId": "a", "n": 2}),
        ("private-workspace-v", 1, "task-updated", {"taskId": "a", "n": 3}),
        ("private-workspace-w", 3, "task-updated", {"taskId": "a", "n": 4}),
        ("private-workspace-w", 4, "task-updated", {"taskId": "a", "n": 5}),  # a block of its own
    ]


def test_an_error_inside_together_writes_none_of_its_events(db):
    with pytest.raises(RuntimeError), transaction.atomic(), together():
        publish("private-task-a", "new-message", "m1")
        raise RuntimeError("the change failed")
    assert not OutboxEvent.objects.exists()


def test_committed_events_are_sent_and_recorded(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        publish("private-task-a", "new-message", "m1", exclude_socket_id="1.2")
    event = OutboxEvent.objects.get()
    assert event.sent_at is not None
    assert recording.recorded == [
        {
            "channel": "private-task-a",
            "event": "new-message",
            "data": "m1",
            "exclude_socket_id": "1.2",
        }
    ]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_leaves_no_event():
    with pytest.raises(RuntimeError), transaction.atomic():
        publish("private-task-a", "new-message", "lost")
        raise RuntimeError("the change fails")
    publish("private-task-a", "new-message", "kept")
    assert list(OutboxEvent.objects.values_list("data", "seq")) == [("kept", 1)]
    assert [e["data"] for e in recording.recorded] == ["kept"]


@pytest.mark.django_db(transaction=True)
def test_a_savepoints_events_go_out_with_the_enclosing_transactions_in_one_dispatch(
    monkeypatch,
):
    """One dispatch per commit: a savepoint's channels join the enclosing batch; a
    rolled-back savepoint's events are never written, and its channel costs nothing more."""
    dispatched: list[list[str]] = []
    real = dispatch.dispatch_channels
    monkeypatch.setattr(
        dispatch,
        "dispatch_channels",
        lambda channels, **batch: dispatched.append(list(channels)) or real(channels, **batch),
    )
    with transaction.atomic():
        publish("private-task-a", "e", "outer")
        with transaction.atomic():
            publish("private-workspace-w", "e", "inner")
        with pytest.raises(RuntimeError), transaction.atomic():
            publish("private-task-b", "e", "rolled back")
            raise RuntimeError("the savepoint fails")
        publish("private-task-a", "e", "after")
    assert dispatched == [["private-task-a", "private-workspace-w", "private-task-b"]]
    assert [e["data"] for e in recording.recorded] == ["outer", "after", "inner"]
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
    assert not OutboxEvent.objects.filter(channel="private-task-b").exists()


@pytest.mark.django_db(transaction=True)
def test_a_commits_events_go_out_in_one_statement_on_postgresql():
    """The batch after a commit: the statement that numbered the events leased their
    channels (nothing unsent, nobody holding them), so one statement marks them sent and
    gives the leases back; SQLite, without those, takes four (lease, read, mark,
    release). A channel with something unsent takes the lease-and-read statement too
    (below)."""
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        publish("private-task-a", "e", 1)
        publish("private-workspace-w", "e", 2)
    committed = max(i for i, q in enumerate(queries) if q["sql"].startswith("COMMIT"))
    assert len(queries) - committed - 1 == {"postgresql": 1}.get(connection.vendor, 4)
    assert [e["data"] for e in recording.recorded] == [1, 2]
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
    assert not OutboxChannel.objects.exclude(lease_owner="").exists()
    assert all(c.sent_seq == c.last_seq for c in OutboxChannel.objects.all())


@pytest.mark.django_db(transaction=True)
def test_a_new_event_never_overtakes_an_unsent_one_of_its_channel(monkeypatch):
    """An event waiting for its next attempt keeps its channel from being leased by the
    next commit's statement: the later event waits behind it, and both go out in order."""
    failing = FailingPublisher()
    monkeypatch.setattr(dispatch, "get_publisher", lambda: failing)
    with transaction.atomic():
        publish("private-task-a", "e", 1)
    assert failing.calls == 1
    working = ListPublisher()
    monkeypatch.setattr(dispatch, "get_publisher", lambda: working)
    with transaction.atomic():
        publish("private-task-a", "e", 2)
    assert working.sent == []  # the head is not due yet
    assert dispatch.dispatch_pending(now=timezone.now() + timedelta(minutes=10)) == 2
    assert [o.data for o in working.sent] == ["1", "2"]
    channel = OutboxChannel.objects.get()
    assert (channel.lease_owner, channel.sent_seq, channel.last_seq) == ("", 2, 2)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_lease_taken_for_a_batch_that_never_sent_expires_and_the_job_sends(monkeypatch):
    """A process that stopped between a commit and its batch's send leaves the channel
    leased (the events' statement took it): the periodic job leaves it alone until the
    lease runs out, then sends."""
    monkeypatch.setattr(dispatch.CommitBatch, "__call__", lambda batch: None)
    with transaction.atomic():
        publish("private-task-a", "e", 1)
    assert OutboxChannel.objects.get().lease_owner != ""
    assert dispatch.dispatch_pending() == 0
    OutboxChannel.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    assert dispatch.dispatch_pending() == 1
    assert [e["data"] for e in recording.recorded] == [1]
    assert OutboxChannel.objects.get().lease_owner == ""


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("channels", [1, 2])
def test_a_refused_commit_is_tried_once_and_its_head_backs_off(monkeypatch, channels):
    """The push service down: the commit's batch tries once (each try may wait for the
    client's timeout), notes the failure on the head and gives the leases back; the
    periodic job sends later."""
    failing = FailingPublisher()
    monkeypatch.setattr(dispatch, "get_publisher", lambda: failing)
    names = ["private-task-a", "private-workspace-w"][:channels]
    with transaction.atomic():
        for name in names:
            publish(name, "e", name)
    assert failing.calls == 1
    head = OutboxEvent.objects.get(channel=names[0])
    assert head.attempts == 1 and head.next_attempt_at > timezone.now()
    assert OutboxEvent.objects.filter(sent_at__isnull=True).count() == channels
    assert not OutboxChannel.objects.exclude(lease_owner="").exists()


def test_payload_over_10_kb_in_utf8_bytes_is_an_error_at_publish_time(db):
    # 4000 three-byte characters: 12 KB of UTF-8, though only 4000 characters.
    with pytest.raises(PayloadTooLarge, match="limit is 10240 bytes"):
        publish("private-task-a", "x", "€" * 4000)
    publish("private-task-a", "x", "a" * (MAX_EVENT_BYTES - 2))  # quotes make it 10240
    assert OutboxEvent.objects.count() == 1


def test_a_channels_dispatch_takes_its_lease_reads_and_marks_and_lets_go(db, undispatched):
    """The periodic job's (and a busy channel's) dispatch: the lease, the read, then the
    marks and the release in one statement on PostgreSQL (two elsewhere)."""
    publish("private-task-a", "e", 1)
    publish("private-task-a", "e", 2)
    with CaptureQueriesContext(connection) as queries:
        assert dispatch.dispatch_channel("private-task-a") == 2
    assert len(queries) == {"postgresql": 3}.get(connection.vendor, 4)
    assert [e["data"] for e in recording.recorded] == [1, 2]
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
    channel = OutboxChannel.objects.get(name="private-task-a")
    assert channel.lease_owner == "" and channel.sent_seq == channel.last_seq == 2


def test_a_failed_send_backs_off_and_later_events_wait_behind_it(db, undispatched, monkeypatch):
    failing = FailingPublisher()
    monkeypatch.setattr(dispatch, "get_publisher", lambda: failing)
    publish("private-task-a", "e", 1)
    publish("private-task-a", "e", 2)
    assert dispatch.dispatch_channel("private-task-a") == 0
    with CaptureQueriesContext(connection) as queries:
        assert dispatch.dispatch_channel("private-task-a") == 0  # head not due: not retried
    assert len(queries) == 3  # its lease, its read, the lease given back
    assert failing.calls == 1
    head = OutboxEvent.objects.get(seq=1)
    assert head.attempts == 1
    assert "push service down" in head.last_error
    assert head.next_attempt_at > timezone.now()
    assert not OutboxEvent.objects.filter(sent_at__isnull=False).exists()

    working = ListPublisher()
    monkeypatch.setattr(dispatch, "get_publisher", lambda: working)
    later = timezone.now() + timedelta(minutes=10)
    assert dispatch.dispatch_pending(now=later) == 2
    assert [o.data for o in working.sent] == ["1", "2"]
    assert dispatch.dispatch_pending(now=later) == 0  # nothing twice


def test_backoff_grows_and_is_capped(settings):
    assert dispatch.backoff(1) == timedelta(seconds=1)
    assert dispatch.backoff(4) == timedelta(seconds=8)
    assert dispatch.backoff(50) == timedelta(seconds=300)
    settings.OUTBOX_MAX_BACKOFF_SECONDS = 4  # OUTBOX_MAX_BACKOFF_SECONDS
    assert dispatch.backoff(3) == timedelta(seconds=4)
    assert dispatch.backoff(50) == timedelta(seconds=4)


def test_a_channel_leased_by_another_dispatcher_is_left_to_it(db, undispatched, monkeypatch):
    working = ListPublisher()
    monkeypatch.setattr(dispatch, "get_publisher", lambda: working)
    publish("private-task-a", "e", 1)
    assert dispatch._claim("private-task-a", "someone-else")
    assert dispatch.dispatch_channel("private-task-a") == 0
    assert working.sent == []


@pytest.mark.django_db(transaction=True)
def test_an_event_committed_while_the_lease_is_given_back_is_sent_by_its_holder(monkeypatch):
    """A publisher that finds the lease taken leaves its event to the holder. If it commits
    while the holder gives the lease back, that release must not let go: a release that
    waited for the channel's row could not see the event in its NOT EXISTS (PostgreSQL
    rechecks only the row), and the event stayed unsent until the periodic job. The
    release passes over a row a publisher holds (SKIP LOCKED); the holder's renewal waits
    for it, and the holder sends what it numbered."""
    from realtime import events

    channel = "private-task-a"
    publish(channel, "e", 0)  # the channel's row
    assert dispatch._claim(channel, "someone-else") is not None
    publish(channel, "first", 1)  # left to that dispatcher, which goes away
    dispatch._release(channel, "someone-else")
    held = HeldPublisher()
    monkeypatch.setattr(dispatch, "get_publisher", lambda: held)
    numbered, commit = threading.Event(), threading.Event()
    result: dict[str, int] = {}

    def holder() -> None:  # the dispatcher: sends "first", then gives the lease back
        try:
            result["sent"] = dispatch.dispatch_channel(channel)
        finally:
            connection.close()

    def late_publisher() -> None:  # its own dispatch found the lease taken: none here
        try:
            with transaction.atomic():
                publish(channel, "second", 2)  # numbered: the channel's row is locked
                numbered.set()
                assert commit.wait(10)
        finally:
            connection.close()

    monkeypatch.setattr(events, "batch_on_commit", lambda channels: None)
    dispatcher = threading.Thread(target=holder)
    dispatcher.start()
    assert held.holding.wait(10)  # the holder is sending "first"
    publisher = threading.Thread(target=late_publisher)
    publisher.start()
    assert numbered.wait(10)
    held.release.set()  # the holder marks "first" and tries to give the lease back...
    waiting_for_the_row()
    commit.set()  # ...while "second" commits
    publisher.join(10)
    dispatcher.join(10)
    assert [o.event for o in held.sent] == ["first", "second"]
    assert result["sent"] == 2
    assert not OutboxEvent.objects.filter(sent_at=None).exists()
    assert not OutboxChannel.objects.exclude(lease_owner="").exists()


def waiting_for_the_row(timeout: float = 10) -> None:
    """Returns once a statement waits for a row lock (PostgreSQL); SQLite has no row locks
    (its writers wait for the database): a moment is enough there."""
    if connection.vendor != "postgresql":
        time.sleep(0.3)
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT 1 FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone():
                return
            time.sleep(0.01)
    raise AssertionError("no statement waited for the channel's row")


def test_the_management_command_sends_what_is_pending(db, undispatched):
    from django.core.management import call_command

    publish("private-task-a", "e", 1)
    call_command("realtime_dispatch", "--once")
    assert OutboxEvent.objects.get().sent_at is not None


def test_uuids_and_datetimes_in_data_leave_as_the_api_writes_them(
    db, django_capture_on_commit_callbacks
):
    import uuid
    from datetime import UTC, datetime

    task_id = uuid.UUID("6c1f9f36-0000-4000-8000-000000000001")
    when = datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=True):
        publish(
            "private-task-a",
            "workflow-status-update",
            {"taskId": task_id, "workflowStatus": "COMPLETED", "timestamp": when},
        )
    assert recording.recorded[0]["data"] == {
        "taskId": str(task_id),
        "workflowStatus": "COMPLETED",
        "timestamp": "2026-11-23T09:00:00.123Z",
    }


def test_the_worker_task_resends_what_is_due(db, undispatched, settings, monkeypatch):
    working = ListPublisher()
    monkeypatch.setattr(dispatch, "get_publisher", lambda: working)
    publish("private-task-a", "e", 1)
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    result = dispatch.dispatch_outbox.enqueue()
    assert result.return_value == 1
    assert [o.data for o in working.sent] == ["1"]


def test_names_the_push_service_would_refuse_are_refused_at_publish_time(db):
    with pytest.raises(ValueError, match="channel name"):
        publish("private-task a", "e", 1)
    with pytest.raises(ValueError, match="event name"):
        publish("private-task-a", "e" * 201, 1)
    assert not OutboxEvent.objects.exists()


def test_a_malformed_socket_id_to_exclude_excludes_nobody(db):
    publish("private-task-a", "new-message", "m1", exclude_socket_id="not-a-socket")
    publish("private-task-a", "new-message", "m2", exclude_socket_id="12.34")
    assert list(
        OutboxEvent.objects.order_by("seq").values_list("exclude_socket_id", flat=True)
    ) == [
        None,
        "12.34",
    ]


class CallsPublisher:
    def __init__(self):
        self.calls: list[list[Outgoing]] = []

    def send(self, outgoing: list[Outgoing]) -> None:
        self.calls.append(list(outgoing))


@pytest.mark.django_db(transaction=True)
def test_the_events_of_one_commit_go_out_in_one_publisher_call(monkeypatch):
    publisher = CallsPublisher()
    monkeypatch.setattr(dispatch, "get_publisher", lambda: publisher)
    with transaction.atomic():
        publish("private-task-a", "e", 1)
        publish("private-workspace-w", "e", 2)
        publish("private-task-a", "e", 3)
    assert [[(o.channel, o.data) for o in call] for call in publisher.calls] == [
        [("private-task-a", "1"), ("private-task-a", "3"), ("private-workspace-w", "2")]
    ]
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
    assert not dispatch.OutboxChannel.objects.exclude(lease_owner="").exists()


@pytest.mark.django_db(transaction=True)
def test_a_batch_leaves_a_leased_channel_to_its_dispatcher_and_sends_the_others(monkeypatch):
    publisher = CallsPublisher()
    monkeypatch.setattr(dispatch, "get_publisher", lambda: publisher)
    publish("private-task-a", "e", 0)  # the channel rows exist
    publisher.calls.clear()
    assert dispatch._claim("private-task-a", "someone-else")
    with transaction.atomic():
        publish("private-task-a", "e", 1)
        publish("private-workspace-w", "e", 2)
    sent = [(o.channel, o.data) for call in publisher.calls for o in call]
    assert sent == [("private-workspace-w", "2")]
    assert OutboxEvent.objects.get(channel="private-task-a", seq=2).sent_at is None


class HeldPublisher(ListPublisher):
    """Holds its first send (with `event`, the first that carries an event of that name)
    until `release` is set; keeps the thread and the events of each call."""

    def __init__(self, event: str | None = None):
        super().__init__()
        self.event = event
        self.holding = threading.Event()
        self.release = threading.Event()
        self.calls: list[tuple[str, list[str]]] = []

    def send(self, outgoing: list[Outgoing]) -> None:
        hold = any(o.event == self.event for o in outgoing) if self.event else not self.sent
        if hold and not self.holding.is_set():
            self.holding.set()
            assert self.release.wait(10)
        super().send(outgoing)
        self.calls.append((threading.current_thread().name, [o.event for o in outgoing]))


@pytest.mark.django_db(transaction=True)
def test_a_background_sender_frees_the_committing_thread_and_keeps_the_order(monkeypatch):
    held = HeldPublisher()
    monkeypatch.setattr(dispatch, "get_publisher", lambda: held)
    sender = dispatch.start_background_sender()
    try:
        with dispatch.in_background(), transaction.atomic():
            publish("private-task-a", "first", {"n": 1})
        assert held.holding.wait(10)  # the sender is inside the first send...
        with dispatch.in_background(), transaction.atomic():  # ...this thread commits again
            publish("private-task-a", "second", {"n": 2})
            publish("private-task-b", "other", {"n": 3})
        assert held.sent == []
    finally:
        held.release.set()
        sender.stop(timeout=10)  # sends what is queued, then ends
    assert not sender.is_alive()
    assert [(o.channel, o.event) for o in held.sent] == [
        ("private-task-a", "first"),
        ("private-task-a", "second"),
        ("private-task-b", "other"),
    ]
    assert not OutboxEvent.objects.filter(sent_at=None).exists()
    with dispatch.in_background(), transaction.atomic():  # stopped: sent by the committer
        publish("private-task-a", "third", {"n": 4})
    assert held.sent[-1].event == "third"


@pytest.mark.django_db(transaction=True)
def test_only_commits_in_background_go_through_the_sender(monkeypatch):
    held = HeldPublisher()
    monkeypatch.setattr(dispatch, "get_publisher", lambda: held)
    sender = dispatch.start_background_sender()
    try:
        with dispatch.in_background(), transaction.atomic():
            publish("private-task-a", "held", {"n": 1})
        assert held.holding.wait(10)  # the sender is busy
        with transaction.atomic():
            publish("private-task-b", "inline", {"n": 2})
        assert [o.event for o in held.sent] == ["inline"]  # sent before the commit returned
    finally:
        held.release.set()
        sender.stop(timeout=10)
    assert [o.event for o in held.sent] == ["inline", "held"]


@pytest.mark.django_db(transaction=True)
def test_the_batches_queued_while_the_sender_sends_go_out_together(monkeypatch):
    """One publisher call, one mark (a statement's one `sent_at`) for what queued up; a
    channel that an earlier batch held gets its later events once, in order."""
    held = HeldPublisher()
    monkeypatch.setattr(dispatch, "get_publisher", lambda: held)
    sender = dispatch.start_background_sender()
    try:
        with dispatch.in_background(), transaction.atomic():
            publish("private-task-a", "first", {})
        assert held.holding.wait(10)
        for n in (2, 3):
            with dispatch.in_background(), transaction.atomic():
                publish(f"private-task-{n}", f"own {n}", {})
                publish("private-workspace-w", f"workspace {n}", {})
                publish("private-task-a", f"a {n}", {})  # the first batch holds its lease
        assert held.sent == []
    finally:
        held.release.set()
        sender.stop(timeout=10)
    calls = [events for _thread, events in held.calls]
    assert calls[0] == ["first"]
    assert sorted(o.event for o in held.sent) == sorted(
        ["first", "own 2", "own 3", "workspace 2", "workspace 3", "a 2", "a 3"]
    )
    merged = next(call for call in calls if "own 2" in call)
    assert "own 3" in merged
    for channel in ("private-task-a", "private-workspace-w"):
        events = OutboxEvent.objects.filter(channel=channel).order_by("seq")
        assert [o.event for o in held.sent if o.channel == channel] == [e.event for e in events]
    marks = dict(OutboxEvent.objects.values_list("event", "sent_at"))
    assert None not in marks.values()
    assert marks["own 2"] == marks["own 3"]
    assert not OutboxChannel.objects.exclude(lease_owner="").exists()


@pytest.mark.django_db(transaction=True)
def test_a_commit_in_background_if_busy_goes_to_the_sender_only_while_it_sends(monkeypatch):
    publisher = HeldPublisher(event="held")
    monkeypatch.setattr(dispatch, "get_publisher", lambda: publisher)
    here = threading.current_thread().name
    sender = dispatch.start_background_sender()
    try:
        with dispatch.in_background(if_busy=True), transaction.atomic():
            publish("private-task-a", "idle", {})
        assert publisher.calls == [(here, ["idle"])]  # the sender had nothing: sent here
        with dispatch.in_background(), transaction.atomic():
            publish("private-task-b", "held", {})
        assert publisher.holding.wait(10)
        with dispatch.in_background(if_busy=True), transaction.atomic():
            publish("private-task-c", "busy", {})
        assert publisher.calls == [(here, ["idle"])]  # queued behind the held send
    finally:
        publisher.release.set()
        sender.stop(timeout=10)
    assert [(thread, event) for thread, events in publisher.calls[1:] for event in events] == [
        ("outbox-sender", "held"),
        ("outbox-sender", "busy"),
    ]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_marking_a_big_commit_sent_reads_each_unsent_event_once(monkeypatch):
    """A commit of many channels' events (a bulk change of 300 tasks: each task's channel
    and the workspace's) is marked sent and its leases given back by a statement that
    goes through the unsent events once, not once per channel: that form took 8 s for
    1,000 tasks and 72 s for 2,000, holding the channels' rows meanwhile."""
    monkeypatch.setattr(dispatch.CommitBatch, "__call__", lambda batch: None)  # not sent yet
    with transaction.atomic():
        for n in range(300):
            publish(f"private-task-{n}", "task-updated", n)
            publish("private-workspace-w", "task-updated", n)
    unsent = list(OutboxEvent.objects.filter(sent_at__isnull=True))
    channels = OutboxChannel.objects.values_list("name", "lease_owner", "last_seq")
    claimed = {name: dispatch.Lease(owner, seq) for name, owner, seq in channels}
    assert len({lease.owner for lease in claimed.values()}) == 1  # the commit's batch
    sql, params = dispatch._mark_and_release_sql([e.pk for e in unsent], claimed, timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()[0]
        transaction.set_rollback(True)
    assert rows_read(plan["Plan"], OutboxEvent._meta.db_table) <= 2 * len(unsent)
    assert sorted(dispatch._mark_and_release(unsent, claimed)) == sorted(claimed)
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
    assert not OutboxChannel.objects.exclude(lease_owner="").exists()
