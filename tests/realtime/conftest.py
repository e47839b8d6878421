import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.realtime import live


@pytest.fixture(scope="session")
def live_db(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The servers' database, migrated and seeded once per session."""
    url = live.create_database(tmp_path_factory.mktemp("realtime-e2e"))
    seeded = json.loads(live.last_line(live.manage(url, "shell", "-c", live.SEED)))
    return {"url": url, **seeded}


@pytest.fixture
def start_server(live_db: dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    started: list[live.Server] = []

    def start(redis_url: str = "") -> live.Server:
        server = live.start_server(
            live_db["url"], tmp_path / f"daphne{len(started)}.log", redis_url
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server: Any) -> live.Server:
    return start_server()


@pytest.fixture
def listeners() -> Iterator[Any]:
    opened: list[live.Listener] = []

    def open_listener(*args: Any, **kwargs: Any) -> live.Listener:
        listener = live.listen(*args, **kwargs)
        opened.append(listener)
        return listener

    yield open_listener
    for listener in opened:
        listener.close()


@pytest.fixture
def publish_to(settings: Any) -> Any:
    """Aims this process's `pusher` publisher at a server (or any port)."""

    def aim(port: int) -> None:
        settings.REALTIME_PUBLISHER = "pusher"
        settings.PUSHER_HOST = "127.0.0.1"
        settings.PUSHER_PORT = port
        settings.PUSHER_SSL = False
        settings.PUSHER_CLUSTER = ""

    return aim
