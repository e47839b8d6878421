"""Execution tests run jobs with the immediate backend."""

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def immediate_jobs(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
