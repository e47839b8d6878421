from typing import Any

import pytest

from tests import recording
from tests.factories import RepositoryFactory, RobotFactory

SECRET = "s3cret-webhook-secret-for-tests"


@pytest.fixture(autouse=True)
def immediate_jobs(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def recorded_events() -> Any:
    recording.recorded.clear()
    yield recording.recorded
    recording.recorded.clear()


@pytest.fixture
def repo(workspace: Any) -> Any:
    return RepositoryFactory(
        workspace=workspace,
        name="hello-world",
        repository_url="https://github.com/octocat/Hello-World",
        webhook_secret=SECRET,
    )


@pytest.fixture
def robot(repo: Any) -> Any:
    return RobotFactory(workspace=repo.workspace, repository=repo, name="taskbot")
