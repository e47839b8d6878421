"""The one call domain code makes to tell clients about a change.

`publish` is called inside the change's transaction; the event leaves only after
the transaction commits, so a rolled-back change sends nothing.
"""

from typing import Any

from django.conf import settings
from django.db import transaction

# Until the outbox lands, events committed in this process are recorded here.
recorded: list[dict[str, Any]] = []


def task_channel(task_id: object) -> str:
    return _channel(f"task-{task_id}")


def workspace_channel(slug: str) -> str:
    return _channel(f"workspace-{slug}")


def _channel(name: str) -> str:
    return name if settings.REALTIME_PUBLIC_CHANNELS else f"private-{name}"


def publish(channel: str, event: str, data: Any, *, exclude_socket_id: str | None = None) -> None:
    event_record = {
        "channel": channel,
        "event": event,
        "data": data,
        "exclude_socket_id": exclude_socket_id,
    }
    transaction.on_commit(lambda: recorded.append(event_record))
