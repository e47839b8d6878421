"""The built-in Pusher-protocol server: WebSocket `/app/{key}` for clients and HTTP
`POST /apps/{appId}/events|batch_events` for publishers. Fan-out goes through the
channel layer (in-memory in one process, Redis across processes) to each server
process's hub (`realtime.fanout`), which hands an event to the process's sockets.

Adapters only: the protocol pieces live in `realtime.protocol`, the publish request
checks in `realtime.http_api`, the access re-check of private subscriptions in
`realtime.grants` (read in a thread every STREAM_ACCESS_CHECK_SECONDS).
"""

import asyncio
import contextlib
import json
import logging
import secrets
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.http import AsyncHttpConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from config import metrics
from realtime import grants, http_api, protocol
from realtime.fanout import RESYNC, hub, send_to_group

logger = logging.getLogger(__name__)


class PusherSocketConsumer(AsyncWebsocketConsumer):
    socket_id: str
    channels: set[str]
    # No channel of its own in the layer: events come through the process's hub. (With
    # one, a Redis restart ended the socket's application without `disconnect`, and the
    # hub kept handing events to a dead member instead of joining its group again.)
    channel_layer_alias = "none: the hub"

    async def connect(self) -> None:
        self.channels = set()
        self.socket_id = ""
        self.access_check: asyncio.Task[None] | None = None
        # Accepted before any refusal: Pusher clients read the close code only then.
        await self.accept()
        if self.scope["url_route"]["kwargs"]["key"] != settings.PUSHER_KEY:
            await self._refuse(protocol.APP_NOT_FOUND, "Application does not exist")
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        version = (query.get("protocol") or [str(protocol.PROTOCOL_VERSION)])[0]
        if not version.isdigit() or int(version) < protocol.MIN_PROTOCOL_VERSION:
            await self._refuse(protocol.UNSUPPORTED_PROTOCOL, f"Unsupported protocol {version}")
            return
        self.socket_id = f"{secrets.randbelow(10**9)}.{secrets.randbelow(10**9)}"
        data = {"socket_id": self.socket_id, "activity_timeout": protocol.ACTIVITY_TIMEOUT}
        metrics.websocket_connections.inc()
        await self._send("pusher:connection_established", json.dumps(data))

    async def disconnect(self, code: int) -> None:
        socket_id = getattr(self, "socket_id", "")
        if socket_id:
            metrics.websocket_connections.dec()
            self.socket_id = ""
        channels: set[str] = getattr(self, "channels", set())
        metrics.websocket_subscriptions.dec(len(channels))
        for channel in channels:
            await hub().leave(protocol.group_name(channel), self)
        self.channels = set()
        if getattr(self, "access_check", None) is not None:
            self.access_check.cancel()  # type: ignore[union-attr]
            try:
                await database_sync_to_async(grants.forget)(socket_id)
            except Exception:  # a socket's end never fails; its grants only go stale
                logger.warning("Could not forget the grants of %s", self.socket_id, exc_info=True)

    async def follow_access(self) -> None:
        """Takes away a private channel whose grant no longer holds: a `pusher:error`
        for it, and no further events."""
        while True:
            await asyncio.sleep(settings.STREAM_ACCESS_CHECK_SECONDS)
            private = [c for c in self.channels if c.startswith(protocol.PRIVATE_PREFIX)]
            if not private:
                continue
            with contextlib.suppress(Exception):  # a database hiccup: next time
                lost = await database_sync_to_async(grants.lost_channels)(self.socket_id, private)
                for channel in lost:
                    self.channels.discard(channel)
                    metrics.websocket_subscriptions.dec()
                    await hub().leave(protocol.group_name(channel), self)
                    await self._error(
                        protocol.UNAUTHORIZED, f"Access to {channel} ended", channel=channel
                    )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.socket_id:
            return  # refused (unknown key) and closing
        try:
            message = json.loads(text_data or "")
            event = message["event"]
        except (ValueError, KeyError, TypeError):
            await self._error(protocol.GENERIC_REJECTION, "Messages are JSON with an event")
            return
        data = message.get("data")
        if isinstance(data, str):
            with contextlib.suppress(ValueError):
                data = json.loads(data)
        if event == "pusher:ping":
            await self._send("pusher:pong", "{}")
        elif event == "pusher:subscribe" and isinstance(data, dict):
            await self._subscribe(data)
        elif event == "pusher:unsubscribe" and isinstance(data, dict):
            await self._unsubscribe(data)
        elif event.startswith("client-"):
            await self._error(protocol.GENERIC_REJECTION, "Client events are not enabled")
        else:
            await self._error(protocol.GENERIC_REJECTION, f"Unsupported event {event!r}")

    async def _subscribe(self, data: dict[str, Any]) -> None:
        channel = data.get("channel")
        if not isinstance(channel, str) or not protocol.CHANNEL_NAME.match(channel):
            await self._error(protocol.GENERIC_REJECTION, "Invalid channel name")
            return
        if channel.startswith("presence-") or channel.startswith("private-encrypted-"):
            await self._error(protocol.GENERIC_REJECTION, "Channel type not supported", channel)
            return
        if channel.startswith(protocol.PRIVATE_PREFIX) and not protocol.valid_channel_auth(
            self.socket_id, channel, data.get("auth")
        ):
            await self._error(
                protocol.UNAUTHORIZED, f"Invalid signature for {channel}", channel=channel
            )
            return
        if channel not in self.channels:
            try:
                await hub().join(protocol.group_name(channel), self, self.pusher_event)
            except Exception:  # the channel layer is down: the client comes back later
                logger.warning("Could not join %s; closing the socket", channel, exc_info=True)
                await self.close(code=protocol.RECONNECT_LATER)
                return
            self.channels.add(channel)
            metrics.websocket_subscriptions.inc()
        if channel.startswith(protocol.PRIVATE_PREFIX) and self.access_check is None:
            self.access_check = asyncio.ensure_future(self.follow_access())
        await self._send("pusher_internal:subscription_succeeded", "{}", channel=channel)

    async def _unsubscribe(self, data: dict[str, Any]) -> None:
        channel = data.get("channel")
        if isinstance(channel, str) and channel in self.channels:
            self.channels.discard(channel)
            metrics.websocket_subscriptions.dec()
            await hub().leave(protocol.group_name(channel), self)

    async def pusher_event(self, message: dict[str, Any]) -> None:
        """A published event, from the process's hub; or its word that events may have
        been lost (the layer failed): the client reconnects, subscribes again and so
        catches up through GET /api/events."""
        if message.get("type") == RESYNC:
            await self.close(code=protocol.RECONNECT_NOW)
            return
        if message.get("exclude_socket_id") == self.socket_id:
            return
        if message["channel"] in self.channels:
            await self._send(message["event"], message["data"], channel=message["channel"])

    async def _refuse(self, code: int, message: str) -> None:
        await self._error(code, message)
        await self.close(code=code)

    async def _send(self, event: str, data: Any, channel: str | None = None) -> None:
        frame: dict[str, Any] = {"event": event, "data": data}
        if channel is not None:
            frame["channel"] = channel
        await self.send(text_data=json.dumps(frame))

    async def _error(self, code: int, message: str, channel: str | None = None) -> None:
        await self._send("pusher:error", {"code": code, "message": message}, channel=channel)


class PusherHttpApiConsumer(AsyncHttpConsumer):
    """`POST /apps/{appId}/events` and `/batch_events`, signed as Pusher's HTTP API."""

    channel_layer_alias = "none: the hub"  # sends only (runs.consumers says why)

    async def handle(self, body: bytes) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        try:
            events = http_api.parse_publish(
                method=self.scope["method"],
                path=self.scope["path"],
                query_string=self.scope.get("query_string", b"").decode("latin-1"),
                body=body,
                app_id=kwargs["app_id"],
                batch=kwargs["kind"] == "batch_events",
            )
        except http_api.PublishRefused as refused:
            await self._json(refused.status, {"error": refused.message})
            return
        for event in events:
            for channel in event.channels:
                await send_to_group(
                    protocol.group_name(channel),
                    {
                        "channel": channel,
                        "event": event.name,
                        "data": event.data,
                        "exclude_socket_id": event.socket_id,
                    },
                )
        await self._json(200, {})

    async def _json(self, status: int, body: dict[str, Any]) -> None:
        await self.send_response(
            status, json.dumps(body).encode(), headers=[(b"Content-Type", b"application/json")]
        )
