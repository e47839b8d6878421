"""Sends the outbox: committed events, through the configured publisher, in seq order
per channel, each marked sent once the publisher accepted it.

Three callers: `publish` (on commit: the channels its transaction wrote, in one batch), the
periodic job
(`dispatch_outbox` task / `manage.py realtime_dispatch`) for whatever failed, and
tests. One dispatcher at a time works a channel (a lease on its OutboxChannel row),
so events go out in order and once. A failure leaves the channel's first unsent
event with attempts, last_error and next_attempt_at (exponential backoff); later
events of that channel wait behind it so order holds. Delivery is at least once: a
process killed between the send and the mark sends that batch again.

A dispatcher lets go of a channel only when nothing of it is left unsent, and a
publisher that finds the lease taken leaves its events to the holder. So the release
also checks that the channel's `last_seq` is still the one the holder knew (from its
lease or renewal): an event committed while the release statement waited for the
channel's row is invisible to that statement's NOT EXISTS (PostgreSQL rechecks only the
row itself), but it has raised `last_seq`. Without that check, such an event stayed
unsent until the periodic job (seen in the bench: one run's end in 200).
"""

import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.tasks import task
from django.utils import timezone

from config import metrics
from config.dbpool import drop_broken_connection
from config.logs import scrub
from realtime.models import OutboxChannel, OutboxEvent
from realtime.protocol import encode_data
from realtime.publishers import BATCH_SIZE, Outgoing, get_publisher

logger = logging.getLogger("taskdesk.realtime")

LEASE = timedelta(seconds=60)
EVENTS_PER_LEASE = 500


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** max(attempts - 1, 0), settings.OUTBOX_MAX_BACKOFF_SECONDS))


class CommitBatch:
    """The on-commit hook of `publish`: one per transaction, holding the channels the
    transaction wrote to (a savepoint's channels join the batch of an enclosing level).
    Their events go out together, whatever the number of events and channels: on
    PostgreSQL one statement leases the channels and reads their events, one publisher
    call goes per BATCH_SIZE events, and one statement marks them sent and gives the
    leases back (elsewhere a lease, a read, a mark and a release). Never lets a push
    failure reach the caller. Sent by the committing thread, or handed to the process's
    `BackgroundSender` when the commit is `in_background`.

    On PostgreSQL the statement that numbers the transaction's events also leases, for
    this batch, each of their channels that nobody holds and that has nothing unsent
    (realtime.events): the batch has those events (`took`), so it sends them without
    the lease-and-read statement. A commit's events then cost one statement after it."""

    def __init__(self) -> None:
        self.channels: list[str] = []
        self.sender = _sender_for_commit()  # the thread that sends it, if not the committer
        self.owner = uuid.uuid4().hex
        self.leased: dict[str, Lease] = {}
        self.events: list[OutboxEvent] = []

    def add(self, channel: str) -> None:
        if channel not in self.channels:
            self.channels.append(channel)

    def took(self, leased: dict[str, int], events: list[OutboxEvent]) -> None:
        """The transaction leased these channels for the batch; these are their events."""
        self.leased.update({channel: Lease(self.owner, seq) for channel, seq in leased.items()})
        self.events.extend(events)

    def __call__(self) -> None:
        if self.sender is not None and self.sender is _sender:
            self.sender.hand(self)
        else:
            self.send()

    @classmethod
    def merged(cls, batches: list["CommitBatch"]) -> "CommitBatch":
        """One batch that sends what these would, in one publisher call (per BATCH_SIZE
        events) with one statement that marks them sent and gives their leases back."""
        if len(batches) == 1:
            return batches[0]
        batch = cls()
        for each in batches:  # in commit order: a channel leased again holds its later lease
            for channel in each.channels:
                batch.add(channel)
            batch.leased.update(each.leased)
            batch.events.extend(each.events)
        return batch

    def send(self) -> None:
        try:
            dispatch_channels(self.channels, leased=self.leased, events=self.events)
        except Exception:
            logger.exception("Dispatching %s failed; the periodic job retries it", self.channels)


# What a commit hands the sender: its outbox batch, or a call (its log lines).
type Sendable = CommitBatch | Callable[[], None]


class BackgroundSender(threading.Thread):
    """Sends the batches (and log lines, `soon`) of the commits made `in_background` on a
    thread of its own, in the order of their commits, so that the committing thread goes
    on at once: a worker's run starts while its claim's events and line go out (about 6
    ms of the path from a message to its answer; 6-13 ms more once the line went too).
    Only there: a batch handed over waits for the thread to get Python's lock, up to 5 ms
    while the committing thread computes (measured: a run's answer went out 7 ms later
    than when its own thread sent it).

    What queued up while it sent goes out together: the batches as one (one publisher
    call, one statement marking them sent and giving their leases back), then the log
    lines in their order. In the bench's SQL floor (4 processes), each commit's own mark
    and release were about 40% of PostgreSQL's time per run; marking what queued up
    together took 15-25% off the machine's CPU per run with one worker (bench/results).

    The thread keeps its database connection from batch to batch, as a worker's job
    threads do. `stop` sends what is queued, then ends the thread."""

    def __init__(self) -> None:
        super().__init__(name="outbox-sender", daemon=True)
        self.batches: queue.SimpleQueue[Sendable | None] = queue.SimpleQueue()
        self.busy = False  # sending, or something is queued

    def run(self) -> None:
        stopping = False
        while not stopping:
            queued = [self.batches.get()]
            self.busy = True
            while not self.batches.empty():
                queued.append(self.batches.get())
            if None in queued:  # `stop`: what came before it is sent, then the thread ends
                stopping = True
                queued = queued[: queued.index(None)]
            batches = [item for item in queued if isinstance(item, CommitBatch)]
            calls: list[Callable[[], None]] = [CommitBatch.merged(batches).send] if batches else []
            calls += [item for item in queued if item is not None and item not in batches]
            drop_broken_connection()
            for call in calls:
                try:
                    call()
                except Exception:  # each sender logs its own failures; the thread goes on
                    logger.exception("The outbox sender thread failed to send")
            self.busy = not self.batches.empty()
        connection.close()

    def hand(self, send: Sendable) -> None:
        self.busy = True
        self.batches.put(send)

    def stop(self, timeout: float) -> None:
        global _sender
        if _sender is self:
            _sender = None  # from now on a commit sends its own batch
        self.batches.put(None)
        self.join(timeout)


_sender: BackgroundSender | None = None
_committing = threading.local()


def start_background_sender() -> BackgroundSender:
    """The process's `BackgroundSender` (a worker's), for the commits `in_background`."""
    global _sender
    _sender = BackgroundSender()
    _sender.start()
    return _sender


def _sender_for_commit() -> BackgroundSender | None:
    """The sender that the current commit hands its batch and log lines to, if any."""
    mode = getattr(_committing, "in_background", None)
    sender = _sender
    if sender is None or mode is None or (mode == "if_busy" and not sender.busy):
        return None
    return sender


def soon(send: Callable[[], None]) -> None:
    """Calls `send` now or, in a commit hook `in_background`, on the process's
    `BackgroundSender` after what it was handed before. For what a commit tells the
    world besides its outbox batch: a run's log lines to the SSE streams."""
    if (sender := _sender_for_commit()) is not None:
        sender.hand(send)
    else:
        send()


@contextmanager
def in_background(*, if_busy: bool = False) -> Iterator[None]:
    """The commits of this block hand their batch and their log lines (`soon`) to the
    process's `BackgroundSender`, if it has one (else they send them themselves). With
    `if_busy`, only while the sender has something to send: then they go out with it,
    marked sent by one statement; an idle sender would only add its wake-up to the
    events' way out."""
    _committing.in_background = "if_busy" if if_busy else "always"
    try:
        yield
    finally:
        _committing.in_background = None


def batch_on_commit(channels: list[str]) -> CommitBatch | None:
    """Sends the channels' events once the current transaction (which the caller is in)
    commits, with the other channels the transaction wrote to. Returns the batch if it
    belongs to this very savepoint level, else None: only then may the events written
    here lease their channels for it (`CommitBatch.took`), since a rollback that takes
    them and their lease back takes the batch too.

    A batch registered at this savepoint level or an enclosing one takes the channels:
    it outlives any rollback that would discard this level's events (then it just finds
    nothing new on the channel). A chat message that queues a run sent its commit's
    events in one dispatch instead of two."""
    connection = transaction.get_connection()
    sids = set(connection.savepoint_ids)
    for hook_sids, hook, _robust in reversed(connection.run_on_commit):
        if isinstance(hook, CommitBatch) and set(hook_sids) <= sids:
            for channel in channels:
                hook.add(channel)
            return hook if set(hook_sids) == sids else None
    batch = CommitBatch()
    for channel in channels:
        batch.add(channel)
    transaction.on_commit(batch)
    return batch


class Lease(NamedTuple):
    """A channel's lease: who holds it, and the channel's last_seq when it was taken."""

    owner: str
    seq: int


def dispatch_channels(
    channels: list[str],
    *,
    leased: dict[str, Lease] | None = None,
    events: list[OutboxEvent] | None = None,
) -> int:
    """Sends the due events of these channels: the ones whose lease is free in one batch,
    the others one channel at a time (`dispatch_channel`). `leased` channels are held
    already, with `events` their unsent events (a CommitBatch's, see `took`).

    A statement here never waits for a row lock while it holds another: a publisher's
    transaction holds its channels' counter rows (`_next_seq`) until it commits, in its
    own order, so the batch takes and gives back only rows nobody holds (SKIP LOCKED);
    a channel it skipped goes through `dispatch_channel`, whose claim waits for the row."""
    owner = uuid.uuid4().hex
    others = [channel for channel in channels if channel not in (leased or {})]
    free, pending = _claim_and_read(others, owner) if others else ({}, [])
    claimed = {channel: Lease(owner, seq) for channel, seq in free.items()}
    if leased:
        claimed.update(leased)
        pending = sorted([*(events or []), *pending], key=lambda e: (e.channel, e.seq))
    sent = 0
    released: set[str] = set()
    failed = False
    if claimed:
        accepted: list[OutboxEvent] = []
        if pending and all(_is_due(event, None) for event in pending):
            accepted, failure = _publish_in_order(pending)
            if failure is not None:  # its channel's head waits for its next attempt
                _record_failure(*failure)
                failed = True
        released = set(_mark_and_release(accepted, claimed))
        sent = len(accepted)
    for channel in channels:
        if channel in released:
            continue
        if channel in claimed and failed:  # the push service refused: the periodic job
            _release(channel, claimed[channel].owner)  # tries again, not us
        elif channel in claimed:  # events came after the lease's: ours to send, still ours
            sent += dispatch_channel(channel, lease_owner=claimed[channel].owner)
        else:
            sent += dispatch_channel(channel)
    return sent


def _lease_sql(set_clause: str, where: str, count: int) -> str:
    """An UPDATE of the free-to-take OutboxChannel rows among `count` names, returning
    their names and last_seq; rows another transaction holds are skipped, never waited
    for."""
    table = OutboxChannel._meta.db_table
    marks = ", ".join(["%s"] * count)
    skip = (
        " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    return (
        f"UPDATE {table} SET {set_clause} WHERE name IN ("
        f"SELECT name FROM {table} WHERE name IN ({marks}) AND {where}{skip}) "
        "RETURNING name, last_seq"
    )


def _claim_and_read(channels: list[str], owner: str) -> tuple[dict[str, int], list[OutboxEvent]]:
    """Leases the free channels (returned with their last_seq) and reads their unsent
    events (in channel, seq order): one statement on PostgreSQL (a data-modifying WITH),
    two elsewhere."""
    if connection.vendor != "postgresql":
        claimed = _claim_free(channels, owner)
        if not claimed:
            return claimed, []
        unsent = OutboxEvent.objects.filter(channel__in=claimed, sent_at__isnull=True)
        return claimed, list(unsent.order_by("channel", "seq")[:EVENTS_PER_LEASE])
    lease, params = _free_lease(channels, owner)
    columns = ", ".join(f"e.{name}" for name in EVENT_COLUMNS)
    # A leased row's last_seq rides in the `seq` column.
    blanks = ", ".join(
        "last_seq AS seq" if name == "seq" else f"NULL AS {name}"
        for name in EVENT_COLUMNS
        if name != "channel"
    )
    sql = (
        f"WITH leased AS ({lease}) "
        f"SELECT 0 AS kind, name AS channel, {blanks} FROM leased UNION ALL "
        f"(SELECT 1, {columns} FROM {OutboxEvent._meta.db_table} e "
        "WHERE e.channel IN (SELECT name FROM leased) AND e.sent_at IS NULL "
        "ORDER BY e.channel, e.seq LIMIT %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, EVENTS_PER_LEASE])
        rows = cursor.fetchall()
    seq = 1 + _EVENT_ATTRS.index("seq")
    claimed = {row[1]: row[seq] for row in rows if row[0] == 0}
    return claimed, [event_from_row(row[1:]) for row in rows if row[0] == 1]


# An event's columns and attributes, `channel` first (the leased rows fill only it).
_EVENT_FIELDS = sorted(OutboxEvent._meta.concrete_fields, key=lambda f: f.attname != "channel")
_EVENT_ATTRS = [f.attname for f in _EVENT_FIELDS]
EVENT_COLUMNS = [str(f.column) for f in _EVENT_FIELDS]


def event_from_row(row: Sequence[Any]) -> OutboxEvent:
    """An event read as `EVENT_COLUMNS` (PostgreSQL)."""
    values = dict(zip(_EVENT_ATTRS, row, strict=True))
    values["data"] = json.loads(values["data"])  # Django reads jsonb as text
    return OutboxEvent(**values)


def _free_lease(channels: list[str], owner: str) -> tuple[str, list[Any]]:
    """The statement (and its parameters) that leases the channels nobody holds."""
    clock = timezone.now()
    sql = _lease_sql(
        "lease_owner = %s, lease_until = %s",
        "(lease_until IS NULL OR lease_until < %s)",
        len(channels),
    )
    return sql, [owner, clock + LEASE, *channels, clock]


def _claim_free(channels: list[str], owner: str) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(*_free_lease(channels, owner))
        return dict(cursor.fetchall())


def _mark_and_release(accepted: list[OutboxEvent], claimed: dict[str, Lease]) -> list[str]:
    """Marks the accepted events sent and gives back the leases of the channels with
    nothing left unsent and no event since their lease (`last_seq` as leased: see the
    module's docstring); returns those channels."""
    delivered_at = timezone.now()
    ids = [event.pk for event in accepted]
    if connection.vendor == "postgresql":
        sql, params = _mark_and_release_sql(ids, claimed, delivered_at)
    else:
        if ids:
            OutboxEvent.objects.filter(pk__in=ids).update(sent_at=delivered_at)
        events = OutboxEvent._meta.db_table
        table = OutboxChannel._meta.db_table
        channels = sorted(claimed)
        known = " ".join(["WHEN %s THEN %s"] * len(channels))
        sql = _lease_sql(
            "lease_owner = '', lease_until = NULL, sent_seq = last_seq",
            f"lease_owner = CASE name {known} END AND last_seq <= CASE name {known} END "
            f"AND NOT EXISTS (SELECT 1 FROM {events} e "
            f"WHERE e.channel = {table}.name AND e.sent_at IS NULL)",
            len(channels),
        )
        owners = [v for c in channels for v in (c, claimed[c].owner)]
        params = [*channels, *owners, *(v for c in channels for v in (c, claimed[c].seq))]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        released = [row[0] for row in cursor.fetchall()]
    if accepted:
        metrics.outbox_delivered.inc(len(accepted))
        for event in accepted:
            metrics.outbox_delivery_lag.observe(
                max((delivered_at - event.created_at).total_seconds(), 0)
            )
    return released


def _mark_and_release_sql(
    ids: list[int], claimed: dict[str, Lease], delivered_at: datetime
) -> tuple[str, list[Any]]:
    """PostgreSQL's mark and release: one statement, the same text whatever the number of
    events and channels (prepared once per connection). The release cannot see the
    WITH's marks, so the channels with something left unsent are found first, leaving
    the marked events out: one index scan of the unsent events of all the channels.
    Checked per channel inside the release, the planner scanned every unsent event for
    each channel, with a search of the marked ids for each: a commit of 1,000 tasks'
    events (1,000 channels, 2,000 events) took 8 s, of 2,000 tasks 72 s, holding the
    channels' rows while every worker's transaction waited for them."""
    events = OutboxEvent._meta.db_table
    table = OutboxChannel._meta.db_table
    channels = sorted(claimed)
    sql = (
        f"WITH sent AS (UPDATE {events} SET sent_at = %s WHERE id = ANY(%s) RETURNING id), "
        f"leftover AS MATERIALIZED (SELECT DISTINCT e.channel FROM {events} e "
        "WHERE e.channel = ANY(%s::text[]) AND e.sent_at IS NULL "
        "AND e.id NOT IN (SELECT id FROM sent)) "
        f"UPDATE {table} SET lease_owner = '', lease_until = NULL, sent_seq = last_seq "
        f"WHERE name IN (SELECT c.name FROM {table} c "
        "JOIN UNNEST(%s::text[], %s::text[], %s::bigint[]) AS k(name, owner, seq) "
        "ON k.name = c.name WHERE c.lease_owner = k.owner AND c.last_seq <= k.seq "
        "AND NOT EXISTS (SELECT 1 FROM leftover l WHERE l.channel = c.name) "
        "FOR UPDATE OF c SKIP LOCKED) "
        "RETURNING name"
    )
    params = [
        delivered_at,
        ids,
        channels,
        channels,
        [claimed[channel].owner for channel in channels],
        [claimed[channel].seq for channel in channels],
    ]
    return sql, params


def _publish_in_order(
    pending: list[OutboxEvent],
) -> tuple[list[OutboxEvent], tuple[OutboxEvent, Exception] | None]:
    """Sends the events (already in per-channel seq order), BATCH_SIZE a call; returns the
    ones accepted, and the first event of the call that failed with its error (the sending
    stops there)."""
    publisher = get_publisher()
    accepted: list[OutboxEvent] = []
    for start in range(0, len(pending), BATCH_SIZE):
        chunk = pending[start : start + BATCH_SIZE]
        metrics.outbox_delivery_attempts.inc()
        try:
            publisher.send([_outgoing(event) for event in chunk])
        except Exception as error:
            metrics.outbox_delivery_failures.inc()
            return accepted, (chunk[0], error)
        accepted.extend(chunk)
    return accepted, None


def dispatch_channel(
    channel: str, *, now: datetime | None = None, lease_owner: str | None = None
) -> int:
    """Sends the channel's due events; returns how many were sent. With `lease_owner`, the
    caller holds the channel's lease already, as that owner."""
    owner = lease_owner or uuid.uuid4().hex
    known = _renew(channel, owner) if lease_owner else _claim(channel, owner)
    if known is None:
        return 0  # another dispatcher has it, and sends what is committed before it lets go
    sent, released = 0, False
    try:
        while True:
            accepted, blocked = _send_due(channel, now)
            sent += len(accepted)
            if blocked and not accepted:
                return sent  # the head waits for its next attempt (the periodic job's)
            # The marks, and the lease given back if nothing is left: one statement.
            released = bool(_mark_and_release(accepted, {channel: Lease(owner, known)}))
            if blocked or released:
                return sent
            # Events were committed while we held the lease: their publishers could not
            # claim it, so they are ours to send, under a renewed lease.
            known = _renew(channel, owner)
            if known is None:
                return sent  # the lease expired and another dispatcher has it now
    finally:
        if not released:
            _release(channel, owner)


def dispatch_pending(*, now: datetime | None = None) -> int:
    """Sends every due event of every channel; the periodic job."""
    channels = (
        OutboxEvent.objects.filter(sent_at__isnull=True)
        .values_list("channel", flat=True)
        .distinct()
        .order_by()
    )
    return sum(dispatch_channel(channel, now=now) for channel in list(channels))


@task()
def dispatch_outbox() -> int:
    """For the worker: resend what is unsent (schedule it, or run realtime_dispatch)."""
    return dispatch_pending()


def _claim(channel: str, owner: str) -> int | None:
    """Leases the channel if it is free (waiting for its row, unlike the batch); returns
    its last_seq, or None if another dispatcher holds it. Every event up to that seq has
    committed: the UPDATE waited for the transactions that numbered them."""
    clock = timezone.now()
    return _update_returning_seq(
        "lease_owner = %s, lease_until = %s",
        "name = %s AND (lease_until IS NULL OR lease_until < %s)",
        [owner, clock + LEASE, channel, clock],
    )


def _update_returning_seq(set_clause: str, where: str, params: list[Any]) -> int | None:
    table = OutboxChannel._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {set_clause} WHERE {where} RETURNING last_seq", params)
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def _release(channel: str, owner: str) -> None:
    OutboxChannel.objects.filter(name=channel, lease_owner=owner).update(
        lease_owner="", lease_until=None
    )


def _renew(channel: str, owner: str) -> int | None:
    """Extends our lease; returns the channel's last_seq (see `_claim`), or None if the
    lease expired and another dispatcher took it."""
    return _update_returning_seq(
        "lease_until = %s",
        "name = %s AND lease_owner = %s",
        [timezone.now() + LEASE, channel, owner],
    )


def _unsent(channel: str) -> list[OutboxEvent]:
    """The channel's unsent events in seq order. On PostgreSQL read as rows: under load the
    holder of a busy channel (a workspace's, which every run's two commits write to)
    reads it once per round, and the queryset cost more than the statement."""
    if connection.vendor != "postgresql":
        unsent = OutboxEvent.objects.filter(channel=channel, sent_at__isnull=True)
        return list(unsent.order_by("seq")[:EVENTS_PER_LEASE])
    columns = ", ".join(EVENT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {OutboxEvent._meta.db_table} "
            "WHERE channel = %s AND sent_at IS NULL ORDER BY seq LIMIT %s",
            [channel, EVENTS_PER_LEASE],
        )
        return [event_from_row(row) for row in cursor.fetchall()]


def _is_due(event: OutboxEvent, now: datetime | None) -> bool:
    return event.next_attempt_at is None or event.next_attempt_at <= (now or timezone.now())


def _send_due(channel: str, now: datetime | None) -> tuple[list[OutboxEvent], bool]:
    """Sends the unsent events in order; returns the ones the publisher accepted (the
    caller marks them sent) and whether the rest must wait: a send failed, or the head is
    not due yet."""
    pending = _unsent(channel)
    if not pending or not _is_due(pending[0], now):
        return [], bool(pending)
    accepted, failure = _publish_in_order(pending)
    if failure is not None:
        _record_failure(*failure)
    return accepted, failure is not None


def _outgoing(event: OutboxEvent) -> Outgoing:
    return Outgoing(
        channel=event.channel,
        event=event.event,
        data=encode_data(event.data),
        exclude_socket_id=event.exclude_socket_id,
    )


def _record_failure(event: OutboxEvent, error: Exception) -> None:
    """Notes the failure on the channel's head event for its next attempt. The error text
    is scrubbed: the pusher client's exceptions carry the signed URL."""
    attempts = event.attempts + 1
    now = timezone.now()
    reason = scrub(f"{type(error).__name__}: {error}")[:2000]
    OutboxEvent.objects.filter(pk=event.pk).update(
        attempts=attempts, last_error=reason, next_attempt_at=now + backoff(attempts)
    )
    # An event younger than OUTBOX_QUIET_SECONDS waits quietly: the push server may not
    # listen yet (`make run` seeds before it starts); the dispatcher sends it when it does.
    waited = (now - event.created_at).total_seconds()
    level = logging.WARNING if waited > settings.OUTBOX_QUIET_SECONDS else logging.DEBUG
    logger.log(
        level, "Sending %s#%s failed (attempt %s): %s", event.channel, event.seq, attempts, reason
    )
