"""Channels routes: each app adds its consumers here; Django serves everything else."""

from typing import Any

from channels.auth import AuthMiddlewareStack
from django.urls import re_path

from realtime.consumers import PusherHttpApiConsumer, PusherSocketConsumer
from runs.consumers import LogStreamConsumer

http_routes: list[Any] = [
    # Pusher's HTTP publish API, as the built-in server (outside /api/: Pusher's paths).
    re_path(
        r"^apps/(?P<app_id>[^/]+)/(?P<kind>events|batch_events)$",
        PusherHttpApiConsumer.as_asgi(),
    ),
    # The SSE log stream: a consumer, so idle streams hold no thread or connection. The
    # session (and its user) is read for the web console's EventSource; tokens still work.
    re_path(
        r"^api/tasks/(?P<task_id>[0-9a-fA-F-]{36})/logs/stream/?$",
        AuthMiddlewareStack(LogStreamConsumer.as_asgi()),
    ),
]
websocket_routes: list[Any] = [
    re_path(r"^app/(?P<key>[^/]+)$", PusherSocketConsumer.as_asgi()),
]
