"""Fan-out inside one server process: a group message crosses the channel layer once per
process, not once per connection.

A connection that wants a group's messages (a pusher-js socket on a channel, an SSE log
stream on a task) joins the process's `Hub`: the hub holds the group in the channel
layer with one channel of its own and hands each message to its local members in turn.
Before it, every connection was its own group member: 1,000 sockets on one channel
meant 1,000 layer messages per event (1,000 Redis writes and reads) for one process.

Messages are sent with `send_to_group`, which adds the group's name for the hub to find
its members. The hub belongs to the event loop that created it (the server's).

When the layer fails (Redis restarting), the messages sent meanwhile are lost to this
process and a restarted Redis has forgotten the groups: once the layer answers again the
hub joins its groups again and hands every member a `hub.resync` message (a socket
reconnects and catches up from the outbox; a log stream reads the database).
"""

import asyncio
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger("taskdesk.realtime")

Handler = Callable[[dict[str, Any]], Awaitable[None]]

# Channels drops group members after group_expiry (a day by default): the hub re-joins.
GROUP_REFRESH_SECONDS = 3600
LAYER_RETRY_SECONDS = 1.0
RESYNC = "hub.resync"


async def send_to_group(group: str, message: dict[str, Any]) -> None:
    """Sends to every member of the group in every process. This process's own members
    (when it has a hub) get it at once, and the layer's copy that comes back is skipped:
    a Redis round trip less between a publish and the sockets of the server it hit."""
    message = {**message, "group": group}
    local = _hubs.get(asyncio.get_running_loop())
    if local is not None and local.channel_name:
        message["origin"] = local.channel_name
    # The layer first: when it fails, the caller fails before any member got the message,
    # and the publisher's retry does not hand it to this process's members twice.
    await get_channel_layer().group_send(group, message)
    if "origin" in message:
        await local.deliver(message)  # type: ignore[union-attr]


SEND_TIMEOUT = 5.0
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def send_to_group_sync(group: str, message: dict[str, Any]) -> None:
    """`send_to_group` from sync code (a worker's run, a request's commit hook); raises
    when the layer did not take the message within SEND_TIMEOUT."""
    send_to_groups_sync([(group, message)])


def send_to_groups_sync(messages: list[tuple[str, dict[str, Any]]]) -> None:
    """`send_to_group` for several (group, message) pairs, in order, in one call to the
    layer's loop: a hop between threads costs up to Python's 5 ms switch interval while
    another thread computes. Traced in the latency bench, a chat message's commit hooks
    in the server (its three events sent, the reaper scheduled) took 22 ms with a hop per
    event, 17 ms with one. Raises at the first message the layer did not take; the ones
    after it are not sent."""

    async def send_all() -> None:
        for group, message in messages:
            await send_to_group(group, message)

    if isinstance(get_channel_layer(), InMemoryChannelLayer):  # this process's own members
        async_to_sync(send_all)()
    else:
        future = asyncio.run_coroutine_threadsafe(send_all(), _layer_loop())
        future.result(SEND_TIMEOUT * len(messages))


def _layer_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, in a thread of its own, for sending to the Redis layer
    from sync code. The layer keeps its connections per loop: async_to_sync, outside a
    server, would start a new loop and connect anew on every call (about 5 ms a line)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="channel-layer", daemon=True).start()
        return _loop


class Hub:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.members: dict[str, dict[Any, Handler]] = {}
        self.channel_name = ""
        self.started = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def join(self, group: str, member: Any, handler: Handler) -> None:
        """From now on `handler` gets the group's messages (once joined in the layer)."""
        await self._start()
        local = self.members.setdefault(group, {})
        if not local:
            try:
                await self.layer.group_add(group, self.channel_name)
            except Exception:
                if not local:
                    del self.members[group]
                raise
        local[member] = handler

    async def leave(self, group: str, member: Any) -> None:
        local = self.members.get(group)
        if local is None or local.pop(member, None) is None or local:
            return
        del self.members[group]
        try:
            await self.layer.group_discard(group, self.channel_name)
        except Exception:  # a layer that is down: the membership expires on its own
            logger.warning("Could not leave %s", group, exc_info=True)

    async def _start(self) -> None:
        if not self.tasks:
            self.tasks = [asyncio.ensure_future(t) for t in (self._listen(), self._refresh())]
        await self.started.wait()

    async def _listen(self) -> None:
        # The default prefix: channels_redis reads all of a process's own channels
        # through one inbox under that prefix, and would never serve another.
        self.channel_name = await self.layer.new_channel()
        self.started.set()
        while True:
            try:
                message = await self.layer.receive(self.channel_name)
            except Exception:  # Redis restarting, say: the hub must outlive it
                logger.exception("The hub could not read from the channel layer")
                await self._recover()
                continue
            if message.get("origin") != self.channel_name:  # else delivered when sent
                await self.deliver(message)

    async def _recover(self) -> None:
        """Joins the groups again once the layer answers, then tells every member that
        messages may have been lost."""
        while True:
            await asyncio.sleep(LAYER_RETRY_SECONDS)
            try:
                for group in list(self.members):
                    await self.layer.group_add(group, self.channel_name)
                break
            except Exception:
                logger.warning("The channel layer is still unavailable")
        for group in list(self.members):
            await self.deliver({"type": RESYNC, "group": group})

    async def deliver(self, message: dict[str, Any]) -> None:
        for member, handler in list(self.members.get(message["group"], {}).items()):
            try:
                await handler(message)
            except Exception:
                logger.exception("A connection failed to take a message; %r", member)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            try:
                for group in list(self.members):
                    await self.layer.group_add(group, self.channel_name)
            except Exception:
                logger.exception("The hub could not refresh its groups")


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The running event loop's hub."""
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = Hub()
    return _hubs[loop]
