"""Personas shared by every app's tests: owner, admin, developer, viewer, outsider,
anonymous (plus pm, stakeholder, and the developer's revoked and expired tokens)."""

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership, Role, User, Workspace
from tests import recording
from tests.factories import UserFactory, WorkspaceFactory

MEMBER_ROLES = {
    "owner": Role.OWNER,
    "admin": Role.ADMIN,
    "pm": Role.PM,
    "developer": Role.DEVELOPER,
    "stakeholder": Role.STAKEHOLDER,
    "viewer": Role.VIEWER,
}


# Tests marked `postgres_only` (concurrent writers, several real processes) are
# collected only in the PostgreSQL run: deselected, not skipped, on SQLite.
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
def _fast_and_fresh(settings: Any) -> None:
    # Real hashing costs ~0.3 s a user; the tests create many.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    recording.recorded.clear()


@pytest.fixture
def recorded_events() -> list[dict[str, Any]]:
    """The events the outbox sent during this test (tests.settings records them)."""
    return recording.recorded


class People(dict[str, User]):
    """The persona users of one workspace, by persona name."""

    workspace: Workspace
    elsewhere: Workspace


@pytest.fixture
def people(db: Any) -> People:
    owner = UserFactory(username="owner")
    workspace = WorkspaceFactory(slug="acme", name="Acme", owner=owner)
    found = People(owner=owner)
    for persona, role in MEMBER_ROLES.items():
        if persona != "owner":
            found[persona] = UserFactory(username=persona)
            Membership.objects.create(workspace=workspace, user=found[persona], role=role)
    found["outsider"] = UserFactory(username="outsider")
    found.workspace = workspace
    found.elsewhere = WorkspaceFactory(slug="elsewhere", owner=found["outsider"])
    return found


@pytest.fixture
def staff_client(client: Any, people: People) -> Any:
    """The Django test client signed in as the owner, made staff superuser (the admin)."""
    staff = people["owner"]
    staff.is_staff = True
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    return client


@pytest.fixture
def workspace(people: People) -> Workspace:
    return people.workspace


@pytest.fixture
def api(people: People) -> Callable[[str], APIClient]:
    """`api("viewer")` is an APIClient authenticated as that persona with a Bearer token."""

    def client_for(persona: str) -> APIClient:
        client = APIClient()
        if persona == "anonymous":
            return client
        if persona in ("revoked", "expired"):
            token, raw = ApiToken.issue(people["developer"], persona)
            if persona == "revoked":
                token.revoke()
            else:
                token.expires_at = timezone.now() - timedelta(seconds=1)
                token.save()
        else:
            _, raw = ApiToken.issue(people[persona], "tests")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return client_for
