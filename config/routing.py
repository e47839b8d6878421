"""Channels routes: each app adds its consumers here; Django serves everything else."""

from typing import Any

from django.urls import re_path

from tasks.consumers import LogStreamConsumer

http_routes: list[Any] = []
websocket_routes: list[Any] = []

http_routes.append(
    re_path(r"^api/tasks/(?P<task_id>[0-9a-fA-F-]{36})/logs/stream/?$", LogStreamConsumer.as_asgi())
)
