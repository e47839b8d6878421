"""A publisher that keeps what the outbox sends, for tests to read."""

import json
from typing import Any

from realtime.publishers import Outgoing

# Every event sent in this process, in send order: {channel, event, data, exclude_socket_id}.
recorded: list[dict[str, Any]] = []


class RecordingPublisher:
    def send(self, events: list[Outgoing]) -> None:
        recorded.extend(
            {
                "channel": e.channel,
                "event": e.event,
                "data": json.loads(e.data),
                "exclude_socket_id": e.exclude_socket_id,
            }
            for e in events
        )
