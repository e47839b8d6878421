"""Execution tests run jobs with the immediate backend."""

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def immediate_jobs(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def checkout() -> Any:
    """A repository checkout the sandbox user can reach (pytest's tmp_path sits below a
    directory only root may enter)."""
    import shutil
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix="taskdesk-checkout-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
