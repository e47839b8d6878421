"""Where committed events go, chosen by REALTIME_PUBLISHER.

`pusher`: the official `pusher` client, aimed at Pusher's service (cluster) or at the
built-in server (host, port, no TLS). `layer`: straight into the Redis channel layer the
built-in server reads, for processes that share it. `none`: nothing leaves the process.
Anything else is the dotted path of a class with the `Publisher` interface (the tests
record with one).
"""

from dataclasses import dataclass
from typing import Protocol

import pusher
from django.conf import settings
from django.utils.module_loading import import_string

from realtime import protocol
from realtime.fanout import send_to_groups_sync

# Pusher's HTTP API takes at most 10 events per batch_events call.
BATCH_SIZE = 10


@dataclass(frozen=True)
class Outgoing:
    channel: str
    event: str
    data: str  # already JSON-encoded
    exclude_socket_id: str | None = None


class Publisher(Protocol):
    def send(self, events: list[Outgoing]) -> None:
        """Sends the events in order; raises when any of them was not accepted."""


class NonePublisher:
    def send(self, events: list[Outgoing]) -> None:
        return None


class PusherPublisher:
    def __init__(self, client: pusher.Pusher):
        self.client = client

    def send(self, events: list[Outgoing]) -> None:
        for start in range(0, len(events), BATCH_SIZE):
            # Fresh dicts each call: trigger_batch mutates what it is given, and the
            # data is encoded (and size-checked in UTF-8 bytes) by `publish` already.
            batch = []
            for item in events[start : start + BATCH_SIZE]:
                entry = {"channel": item.channel, "name": item.event, "data": item.data}
                if item.exclude_socket_id:
                    entry["socket_id"] = item.exclude_socket_id
                batch.append(entry)
            self.client.trigger_batch(batch, already_encoded=True)


class LayerPublisher:
    """What the built-in server's HTTP API does with a publish (realtime.consumers), done
    by the sender: each event into its channel's group in the channel layer, which every
    server process's sockets read. No HTTP round trip, no signature to make and check: in
    the latency bench the answer reached pusher-js at p50 67 ms instead of 77 ms
    (bench/results/execution.md). Only where the layer crosses processes (Redis:
    config.settings checks it)."""

    def send(self, events: list[Outgoing]) -> None:
        send_to_groups_sync(
            [
                (
                    protocol.group_name(item.channel),
                    {
                        "channel": item.channel,
                        "event": item.event,
                        "data": item.data,
                        "exclude_socket_id": item.exclude_socket_id,
                    },
                )
                for item in events
            ]
        )


def pusher_client() -> pusher.Pusher:
    """The official client from PUSHER_* settings (built with host/port, never from_url)."""
    options: dict[str, object] = {"ssl": settings.PUSHER_SSL, "timeout": 5}
    if settings.PUSHER_HOST:
        options.update(host=settings.PUSHER_HOST, port=settings.PUSHER_PORT)
    else:
        options.update(cluster=settings.PUSHER_CLUSTER)
    return pusher.Pusher(
        app_id=settings.PUSHER_APP_ID,
        key=settings.PUSHER_KEY,
        secret=settings.PUSHER_SECRET,
        **options,
    )


_cache: dict[tuple[object, ...], Publisher] = {}


def get_publisher() -> Publisher:
    if settings.REALTIME_PUBLISHER == "none":
        return NonePublisher()
    if settings.REALTIME_PUBLISHER == "layer":
        return LayerPublisher()
    if settings.REALTIME_PUBLISHER != "pusher":
        publisher: Publisher = import_string(settings.REALTIME_PUBLISHER)()
        return publisher
    key = (
        settings.PUSHER_APP_ID,
        settings.PUSHER_KEY,
        settings.PUSHER_SECRET,
        settings.PUSHER_HOST,
        settings.PUSHER_PORT,
        settings.PUSHER_SSL,
        settings.PUSHER_CLUSTER,
    )
    if key not in _cache:
        _cache[key] = PusherPublisher(pusher_client())
    return _cache[key]
