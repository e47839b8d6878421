"""The one call domain code makes to tell clients about a change.

`publish` is called inside the change's transaction: it writes an OutboxEvent with
the channel's next seq in that transaction, and asks the dispatcher to send the
channel's events once the transaction commits. A rolled-back change sends nothing;
an event that cannot be sent now waits in the outbox (`realtime.dispatch`).
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from config import fused
from config.exceptions import PayloadTooLarge
from realtime.dispatch import EVENT_COLUMNS, LEASE, CommitBatch, batch_on_commit, event_from_row
from realtime.models import OutboxChannel, OutboxEvent
from realtime.protocol import CHANNEL_NAME, MAX_EVENT_BYTES, SOCKET_ID, encode_data

MAX_EVENT_NAME = 200

# Sent for each event when it is written, inside the change's transaction (kwargs
# `channel`, `event`, `data`): the integrations app writes the matching outbound webhook
# deliveries in the same transaction, so a rolled-back change sends no webhook either.
# Written at the end of a `together` block, an event's hooks see all of the block's
# changes (a run's end updates its task once, after its answer is published).
published = Signal()
# Asked for each event (the same kwargs) before the events of a transaction whose fused
# writes (config.fused) would go out in their statement: a receiver that returns True
# reads the database in its `published` hook, and those writes are done first, so that
# the hook sees them. Otherwise they go with the events.
reads_when_published = Signal()


Row = tuple[str, str, Any, str | None]  # an event to write: channel, event, data, socket


class EventTooLarge(PayloadTooLarge):
    code = "PAYLOAD_TOO_LARGE"


def task_channel(task_id: object) -> str:
    return _channel(f"task-{task_id}")


def workspace_channel(slug: str) -> str:
    return _channel(f"workspace-{slug}")


def _channel(name: str) -> str:
    return name if settings.REALTIME_PUBLIC_CHANNELS else f"private-{name}"


def publish(
    channel: str,
    event: str,
    data: Any,
    *,
    exclude_socket_id: str | None = None,
    replaces: str | None = None,
) -> None:
    """`replaces`: what the event is the state of (a task's id). An event of the same
    channel, name and `replaces` published earlier in the same `together` block is
    dropped: it would tell clients a state that the commit has already moved past (a
    run's end announced its task twice, IN_PROGRESS with its answer, then its outcome)."""
    # Checked here, not at send time: an event the push service refuses would block
    # its channel's queue. A bad channel or event name is a programming error.
    if not CHANNEL_NAME.match(channel):
        raise ValueError(f"Not a valid Pusher channel name: {channel!r}")
    if not 0 < len(event) <= MAX_EVENT_NAME:
        raise ValueError(f"An event name has 1 to {MAX_EVENT_NAME} characters: {event!r}")
    if exclude_socket_id and not SOCKET_ID.match(exclude_socket_id):
        # Client input (sourceWebsocketID): a socket id that cannot exist excludes nobody.
        exclude_socket_id = None
    size = len(encode_data(data).encode("utf-8"))
    if size > MAX_EVENT_BYTES:
        raise EventTooLarge(
            message=f"The {event!r} event on {channel} is {size} bytes; "
            f"the limit is {MAX_EVENT_BYTES} bytes."
        )
    with together():  # an enclosing block's, or one of its own for this event alone
        pending: list[tuple[Row, str | None]] = _together.pending
        if replaces is not None:
            pending[:] = [p for p in pending if (p[0][:2], p[1]) != ((channel, event), replaces)]
        pending.append(((channel, event, data, exclude_socket_id or None), replaces))


_together = threading.local()


@contextmanager
def together(
    write: Callable[[list[Row], CommitBatch | None, list[fused.Statement]], None] | None = None,
) -> Iterator[None]:
    """The events published in the block are written at its end (and their `published`
    hooks run then), in one statement on PostgreSQL, in the caller's transaction (or one
    of the block's own): a run's claim or end, or a chat message, publishes two or three.
    Their channels' counter rows are then locked from that statement to the commit, not
    from the first event on. An exception writes nothing. A savepoint rolled back inside
    the block would not take its events back: keep such code out of it. Nested blocks
    join the outer one. The transaction's on-commit batch sends them
    (realtime.dispatch.batch_on_commit). `write`, instead of writing them: `committing`
    keeps them for the statement it sends with its COMMIT (the hooks run at the block's
    end all the same)."""
    if getattr(_together, "pending", None) is not None:
        yield
        return
    with transaction.atomic(savepoint=False), fused.carrying() as kept:
        _together.pending = []
        try:
            yield
            pending = [row for row, _ in _together.pending]
        finally:
            _together.pending = None
        # The fused writes go in the events' statement, unless there is none to carry
        # them (no events; SQLite), or a hook reads what they write: then first.
        if kept and (not pending or connection.vendor != "postgresql" or _hooks_read(pending)):
            fused.execute(*kept)
            kept.clear()
        if pending:
            batch = batch_on_commit(list(dict.fromkeys(row[0] for row in pending)))
            (write or _write)(pending, batch, list(kept))
            for channel, event, data, _ in pending:
                published.send(sender=OutboxEvent, channel=channel, event=event, data=data)


def _hooks_read(rows: list[Row]) -> bool:
    return any(
        answer
        for channel, event, data, _ in rows
        for _, answer in reads_when_published.send(
            sender=OutboxEvent, channel=channel, event=event, data=data
        )
    )


@contextmanager
def committing() -> Iterator[None]:
    """`transaction.atomic()` and `together()` for a change whose events are its last
    word (a run's claim, a run's end). On PostgreSQL, outside any transaction, the
    events' statement goes to the server with the COMMIT, in one round trip (psycopg's
    pipeline mode): the channels' counter rows it locks, a busy workspace's among them,
    are held for the server's commit alone. Otherwise the committing thread held them
    until it had the CPU back to send COMMIT: with 4 workers of 4 threads on 2 cores,
    that was 6-7 ms a transaction (pg_stat_statements), and every run of the workspace
    waited in line for its channel. Elsewhere, the same as the two blocks."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        with transaction.atomic(), together():
            yield
        return
    tail: list[tuple[list[Row], CommitBatch | None, list[fused.Statement]]] = []
    with transaction.atomic():
        with together(write=lambda rows, batch, kept: tail.append((rows, batch, kept))):
            yield
        if tail:
            ((rows, batch, kept),) = tail
            _insert_numbered(rows, batch, kept, commit=True)
    # atomic() found the transaction committed: its COMMIT costs nothing, its hooks run.


def _write(rows: list[Row], batch: CommitBatch | None, kept: list[fused.Statement]) -> None:
    if connection.vendor == "postgresql":
        _insert_numbered(rows, batch, kept)
        return
    for channel, event, data, exclude_socket_id in rows:
        OutboxEvent.objects.create(
            channel=channel,
            event=event,
            data=data,
            seq=_next_seq(channel),
            exclude_socket_id=exclude_socket_id,
        )


def _next_seq(channel: str) -> int:
    """The channel's next seq, in one statement. The upsert locks the counter row until the
    caller's transaction ends, so concurrent writers get consecutive numbers in commit
    order."""
    table = OutboxChannel._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, last_seq, lease_owner) VALUES (%s, 1, '') "
            f"ON CONFLICT (name) DO UPDATE SET last_seq = {table}.last_seq + 1 "
            "RETURNING last_seq",
            [channel],
        )
        return int(cursor.fetchone()[0])


def _insert_numbered(
    rows: list[Row],
    batch: CommitBatch | None,
    kept: list[fused.Statement],
    *,
    commit: bool = False,
) -> None:
    """`_next_seq` and the events' INSERT in one statement (PostgreSQL: a data-modifying
    WITH), with the same locks on the channels' counter rows, taken in the channels'
    order. A channel with k events of the batch takes k numbers, in the batch's order.

    With the transaction's `batch`, the same statement leases for it each channel that
    nobody holds and that has nothing unsent (`sent_seq = last_seq`, read from the row
    as locked, after any wait for it), and returns the events of the channels the batch
    holds: the batch sends them without reading them back (CommitBatch.took).

    `kept`: the writes of the transaction's `fused` blocks (config.fused), sent in the
    same statement. They are done before the channels' rows are locked (the events'
    rows wait on their count), as they would be as statements of their own: every
    writer locks the counters' rows before the channels'.

    `commit`: the transaction commits with the statement (`committing`)."""
    channels, events = OutboxChannel._meta.db_table, OutboxEvent._meta.db_table
    field = OutboxEvent._meta.get_field("data")
    columns = [list(column) for column in zip(*rows, strict=True)]
    columns[2] = [field.get_db_prep_save(data, connection) for data in columns[2]]
    now = timezone.now()
    owner = batch.owner if batch is not None else ""
    free = (
        f"EXCLUDED.lease_owner <> '' AND ({channels}.lease_until IS NULL "
        f"OR {channels}.lease_until < %s) AND {channels}.sent_seq = {channels}.last_seq"
    )
    returned = ", ".join(f"w.{name}" for name in EVENT_COLUMNS)
    heads, after, before = "", "", []
    if kept:
        heads = "".join(f"w{i} AS ({sql} RETURNING 1), " for i, (sql, _) in enumerate(kept))
        done = " UNION ALL ".join(f"SELECT 1 FROM w{i}" for i in range(len(kept)))
        after = f" WHERE (SELECT count(*) FROM ({done}) AS kept) >= 0"
        before = [p for _, params in kept for p in params]
    sql = (
        f"WITH {heads}batch AS (SELECT * FROM UNNEST(%s::text[], %s::text[], %s::jsonb[], "
        f"%s::text[]) WITH ORDINALITY AS b(channel, event, data, exclude, n){after}), "
        "taken AS (SELECT channel, count(*) AS k FROM batch GROUP BY channel), "
        f"next AS (INSERT INTO {channels} (name, last_seq, lease_owner, lease_until) "
        "SELECT channel, k, %s, %s::timestamptz FROM taken ORDER BY channel "
        f"ON CONFLICT (name) DO UPDATE SET last_seq = {channels}.last_seq + EXCLUDED.last_seq, "
        f"lease_owner = CASE WHEN {free} THEN EXCLUDED.lease_owner "
        f"ELSE {channels}.lease_owner END, "
        f"lease_until = CASE WHEN {free} THEN EXCLUDED.lease_until "
        f"ELSE {channels}.lease_until END "
        "RETURNING name, last_seq, lease_owner), "
        f"w AS (INSERT INTO {events} (channel, event, data, seq, exclude_socket_id, "
        "created_at, attempts, last_error) "
        "SELECT b.channel, b.event, b.data, "
        "next.last_seq - taken.k + row_number() OVER (PARTITION BY b.channel ORDER BY b.n), "
        "b.exclude, %s, 0, '' FROM batch b JOIN taken ON taken.channel = b.channel "
        "JOIN next ON next.name = b.channel ORDER BY b.n "
        f"RETURNING {', '.join(EVENT_COLUMNS)}) "
        f"SELECT next.last_seq, {returned} FROM w JOIN next ON next.name = w.channel "
        "WHERE next.lease_owner <> '' AND next.lease_owner = %s"
    )
    params = [*before, *columns, owner, now + LEASE if owner else None, now, now, now, owner]
    with connection.cursor() as cursor:
        if commit:  # the statement, then COMMIT, sent together; its rows read after both
            raw = connection.connection
            with connection.wrap_database_errors, raw.pipeline():
                cursor.execute(sql, params)
                raw.commit()
        else:
            cursor.execute(sql, params)
        leased = cursor.fetchall()
    if batch is not None and leased:
        batch.took(
            {row[1 + EVENT_COLUMNS.index("channel")]: row[0] for row in leased},
            [event_from_row(row[1:]) for row in leased],
        )
