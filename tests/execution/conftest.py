"""Execution tests run jobs with the immediate backend; the multi-process tests (marked
`postgres_only`) are collected only when DATABASE_URL is PostgreSQL."""

import os
from typing import Any

import pytest

POSTGRES_MARKER = "postgres_only"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{POSTGRES_MARKER}: needs PostgreSQL (concurrent writers, real server and db_worker "
        "processes); collected only when DATABASE_URL is PostgreSQL",
    )


def on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if on_postgres():
        return
    deselected = [item for item in items if item.get_closest_marker(POSTGRES_MARKER)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker(POSTGRES_MARKER)]


@pytest.fixture(autouse=True)
def immediate_jobs(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def recorded_events() -> Any:
    from realtime import events

    events.recorded.clear()
    yield events.recorded
    events.recorded.clear()
