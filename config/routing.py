"""Channels routes: each app adds its consumers here; Django serves everything else."""

from typing import Any

from django.urls import re_path

from realtime.consumers import PusherHttpApiConsumer, PusherSocketConsumer
from runs.consumers import LogStreamConsumer

http_routes: list[Any] = [
    # Pusher's HTTP publish API, as the built-in server (outside /api/: Pusher's paths).
    re_path(
        r"^apps/(?P<app_id>[^/]+)/(?P<kind>events|batch_events)$",
        PusherHttpApiConsumer.as_asgi(),
    ),
    # The SSE log stream: a consumer, so idle streams hold no thread or connection.
    re_path(
        r"^api/tasks/(?P<task_id>[0-9a-fA-F-]{36})/logs/stream/?$", LogStreamConsumer.as_asgi()
    ),
]
websocket_routes: list[Any] = [
    re_path(r"^app/(?P<key>[^/]+)$", PusherSocketConsumer.as_asgi()),
]
