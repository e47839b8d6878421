from typing import Any

import pytest

from tests.factories import RepositoryFactory, RobotFactory, TaskFactory


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Any) -> Any:
    """Uploads go to a fresh folder per test, never to the project's var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def repository(workspace):
    return RepositoryFactory(workspace=workspace, name="taskdesk")


@pytest.fixture
def robot(workspace, repository):
    return RobotFactory(workspace=workspace, repository=repository, name="Echo")


@pytest.fixture
def task(workspace, people, repository, robot):
    return TaskFactory(
        workspace=workspace,
        title="Fix the login page",
        repository=repository,
        robot=robot,
        created_by=people["developer"],
    )


@pytest.fixture
def other_task(people):
    """A task in the outsider's workspace."""
    return TaskFactory(workspace=people.elsewhere, created_by=people["outsider"])
