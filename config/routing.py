"""Channels routes: each app adds its consumers here; Django serves everything else."""

from typing import Any

http_routes: list[Any] = []
websocket_routes: list[Any] = []
