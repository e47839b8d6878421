"""GET /api/tasks/{id}/logs/stream: the task's log lines as Server-Sent Events.

Events: `init` (the last `tail` lines, or none when resuming, and the task state),
`log` (one line; SSE `id:` is its seq), `status` (workflow status changes), `end` (no
run left; or `reason` when the caller lost access: its membership removed, its role
lowered, its token revoked; access is read again every STREAM_ACCESS_CHECK_SECONDS).
Who: a member, by token (Bearer or ?token=) or by the Django session (config.routing
puts the session and auth middleware in front of this consumer for the console).
Resume with `Last-Event-ID` or `?after=`: the stream joins the task's Channels group
first, then reads the database catch-up, and drops any seq it already sent, so every
line after the given seq arrives once. A gap in what the group delivers
(a full channel, a layer that does not cross processes) is filled from the database, which
is also read every LOG_STREAM_POLL_SECONDS as the fallback. An idle stream holds no
thread and no database connection: reads go through database_sync_to_async and close.
"""

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import connection
from rest_framework.exceptions import APIException, MethodNotAllowed, NotFound

from config import metrics
from config.exceptions import exception_handler
from realtime.fanout import RESYNC, hub
from runs.logs import log_group, log_rows, stream_state
from runs.streams import authorize_log_stream, sse, stream_query

CATCH_UP_BATCH = 1000
logger = logging.getLogger(__name__)


def db_read(function: Callable[..., Any]) -> Callable[..., Any]:
    """Runs a read in the shared sync thread and closes its connection after."""

    def read_and_close(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        finally:
            if not connection.in_atomic_block:
                connection.close()

    return database_sync_to_async(read_and_close)


def opening(
    task_id: UUID, after: int | None, tail: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What a stream sends first, in one trip to the database thread (each trip waits for
    that thread and takes a connection from the pool): the task's state, then the lines
    after `after` (a batch) or, without it, the last `tail`."""
    state = stream_state(task_id)
    if after is not None:
        return state, log_rows(task_id, after=after, limit=CATCH_UP_BATCH)
    return state, log_rows(task_id, limit=tail, newest=True) if tail else []


def uuid_or_404(raw: Any) -> UUID:
    try:
        return UUID(str(raw))
    except ValueError:
        raise NotFound() from None


class LogStreamConsumer(AsyncHttpConsumer):
    # No channel of its own in the layer: lines come through the process's hub. Every
    # consumer with a channel of its own is one more receiver of the process's Redis
    # inbox, and a receiver cancelled at the wrong moment (a client that closes its
    # stream) took a message meant for the hub with it: the answer's `new-message`, lost
    # for every pusher-js client of that server.
    channel_layer_alias = "none: the hub"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.last_seq = 0
        self.streaming = False
        self.counted = False  # an open stream counted in the sse_streams gauge
        self.finished = False
        self.lock = asyncio.Lock()
        self.workflow_status: str | None = None
        self.timers: list[asyncio.Task[None]] = []
        self.heard = False  # a group message came since the last poll
        # The handlers of group messages under way, held as asyncio's docs ask: the event
        # loop holds its tasks only weakly (the bench's SSE client lost its streams so).
        self.handling: set[asyncio.Task[None]] = set()

    # --- request -------------------------------------------------------------------

    async def http_request(self, message: dict[str, Any]) -> None:
        # Unlike the base class, the response outlives handle(): group messages reach the
        # handlers below while the stream is open.
        if "body" in message:
            self.body.append(message["body"])
        if message.get("more_body"):
            return
        await self.handle(b"".join(self.body))
        if not self.streaming:
            await self.disconnect()
            raise StopConsumer()

    async def handle(self, body: bytes) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        headers = {k.decode().lower(): v.decode() for k, v in self.scope.get("headers", [])}
        task_id = self.scope["url_route"]["kwargs"]["task_id"]
        try:
            if self.scope.get("method", "GET") not in ("GET", "HEAD"):
                raise MethodNotAllowed(self.scope["method"])
            self.task_id = uuid_or_404(task_id)
            params = stream_query(
                {key: values[0] for key, values in query.items()}, headers.get("last-event-id")
            )
            self.raw_token = self.token(headers, params)
            self.session_user = self.scope.get("user")
            await db_read(authorize_log_stream)(self.raw_token, self.task_id, self.session_user)
        except APIException as error:
            await self.refuse(error)
            return
        after, tail = params.get("after"), params["tail"]

        await self.send_headers(
            headers=[
                (b"Content-Type", b"text/event-stream; charset=utf-8"),
                (b"Cache-Control", b"no-cache"),
                (b"X-Accel-Buffering", b"no"),
            ]
        )
        self.streaming = self.counted = True
        metrics.sse_streams.inc()
        self.group = log_group(self.task_id)
        await hub().join(self.group, self, self.group_message)  # first: no line missed
        state, lines = await db_read(opening)(self.task_id, after, tail)
        self.workflow_status = state["workflowStatus"]
        if after is None:
            self.last_seq = lines[-1]["seq"] if lines else state["lastSeq"]
            await self.send_event(
                "init", {"logs": lines, "task": self.task_state(state)}, self.last_seq
            )
        else:
            self.last_seq = after
            await self.send_event("init", {"logs": [], "task": self.task_state(state)})
            async with self.lock:
                await self.send_lines(lines)
                if len(lines) == CATCH_UP_BATCH:
                    await self.catch_up()
        if not state["running"]:
            await self.end()
            return
        self.timers = [
            asyncio.ensure_future(
                self.every(settings.LOG_STREAM_KEEPALIVE_SECONDS, self.keep_alive)
            ),
            asyncio.ensure_future(self.every(settings.LOG_STREAM_POLL_SECONDS, self.poll)),
            asyncio.ensure_future(
                self.every(settings.STREAM_ACCESS_CHECK_SECONDS, self.check_access)
            ),
        ]

    @staticmethod
    def token(headers: dict[str, str], params: dict[str, Any]) -> str | None:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
        token: str | None = params.get("token")
        return token

    async def refuse(self, error: APIException) -> None:
        response = exception_handler(error, {})
        headers = [(b"Content-Type", b"application/json")]
        if isinstance(error, MethodNotAllowed):
            headers.append((b"Allow", b"GET, HEAD"))
        await self.send_response(
            response.status_code, json.dumps(response.data).encode(), headers=headers
        )

    @staticmethod
    def task_state(state: dict[str, Any]) -> dict[str, Any]:
        return {"workflowStatus": state["workflowStatus"], "running": state["running"]}

    # --- sending -------------------------------------------------------------------

    async def send_event(self, event: str, data: Any, event_id: int | None = None) -> None:
        if not self.finished:
            await self.send_body(sse(event, data, event_id), more_body=True)

    async def send_lines(self, lines: list[dict[str, Any]]) -> None:
        for line in lines:
            if line["seq"] > self.last_seq:
                self.last_seq = line["seq"]
                await self.send_event("log", line, line["seq"])

    async def catch_up(self) -> None:
        """Sends every stored line after the last one sent (call with the lock held)."""
        while True:
            lines = await db_read(log_rows)(self.task_id, after=self.last_seq, limit=CATCH_UP_BATCH)
            await self.send_lines(lines)
            if len(lines) < CATCH_UP_BATCH:
                return

    async def end(self, reason: str | None = None) -> None:
        if self.finished:
            return
        data: dict[str, Any] = {"workflowStatus": self.workflow_status, "lastSeq": self.last_seq}
        if reason:
            data["reason"] = reason
        await self.send_event("end", data)
        self.finished = True
        await self.send_body(b"", more_body=False)  # daphne answers with http.disconnect

    # --- the task's group ----------------------------------------------------------

    async def group_message(self, message: dict[str, Any]) -> None:
        """From the process's hub. Handled in a task of its own, so that a stream reading
        the database does not hold up the others; the lock (first come, first served)
        keeps the messages in order."""
        self.heard = True
        handler = {
            "log.lines": self.log_lines,
            "log.status": self.log_status,
            RESYNC: self.resync,
        }[message["type"]]
        handling = asyncio.ensure_future(handler(message))
        self.handling.add(handling)
        handling.add_done_callback(self.handled)

    def handled(self, handling: "asyncio.Task[None]") -> None:
        self.handling.discard(handling)
        if not handling.cancelled() and handling.exception() is not None:
            logger.error("A log stream failed to take a message", exc_info=handling.exception())

    async def log_lines(self, message: dict[str, Any]) -> None:
        async with self.lock:
            await self.take_lines(message["lines"])

    async def take_lines(self, lines: list[dict[str, Any]]) -> None:
        if lines and lines[0]["seq"] > self.last_seq + 1:
            await self.catch_up()  # a gap: the database has everything before these
        await self.send_lines(lines)

    async def resync(self, message: dict[str, Any]) -> None:
        """The layer failed and lines may have been lost: the database has them."""
        async with self.lock:
            await self.catch_up()

    async def log_status(self, message: dict[str, Any]) -> None:
        """A run ended (with its last lines) or its task's status moved."""
        async with self.lock:
            await self.take_lines(message.get("lines", []))
            await self.catch_up()
            await self.status_changed(message["workflowStatus"])
            if message.get("ended"):
                state = await db_read(stream_state)(self.task_id)
                if not state["running"]:
                    await self.end()

    async def status_changed(self, workflow_status: str | None) -> None:
        if workflow_status != self.workflow_status:
            self.workflow_status = workflow_status
            await self.send_event("status", {"workflowStatus": workflow_status})

    # --- timers --------------------------------------------------------------------

    async def every(self, seconds: float, action: Callable[[], Any]) -> None:
        while not self.finished:
            await asyncio.sleep(seconds)
            await action()

    async def keep_alive(self) -> None:
        if not self.finished:
            await self.send_body(b": keep-alive\n\n", more_body=True)

    async def poll(self) -> None:
        # While a layer that crosses processes (Redis) is delivering, the database read
        # is not needed; 1,000 streams started together read at once every period and
        # held up their lines by up to 2 s (the bench's SSE p99).
        if self.heard and not isinstance(get_channel_layer(), InMemoryChannelLayer):
            self.heard = False
            return
        async with self.lock:
            state = await db_read(stream_state)(self.task_id)
            await self.catch_up()
            await self.status_changed(state["workflowStatus"])
            if not state["running"]:
                await self.end()

    async def check_access(self) -> None:
        """The stream follows access: a removed member, a role below it or a revoked
        token ends it (the same check as at the start, read afresh)."""
        try:
            await db_read(authorize_log_stream)(self.raw_token, self.task_id, self.session_user)
        except APIException as error:
            async with self.lock:
                await self.end(reason=f"Access ended: {error.detail}")

    async def disconnect(self) -> None:
        if self.counted:
            metrics.sse_streams.dec()
            self.counted = False
        self.finished = True
        current = asyncio.current_task()
        for timer in self.timers:
            if timer is not current:
                timer.cancel()
        if getattr(self, "group", None):
            await hub().leave(self.group, self)
