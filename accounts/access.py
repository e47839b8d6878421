"""The permission layer every endpoint uses: "member of this workspace with at least role R".

Non-members get 404 (no existence leak); members whose role is too weak get 403.
A user's roles are read once per request and kept on the user object.
"""

from typing import cast
from uuid import UUID

from django.contrib.auth.models import AnonymousUser
from django.db.models import UUIDField
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request

from accounts.models import Membership, Role, User, Workspace
from config import logs
from config.compiled import CompiledQuery, Slot

# Who asks: a signed-in user, or an anonymous one (who is a member of nothing).
Caller = User | AnonymousUser

_CACHE_ATTR = "_taskdesk_workspace_roles"


def caller(request: Request) -> User:
    """The authenticated user of a request that passed IsAuthenticated."""
    return cast(User, request.user)


def workspace_roles(user: Caller) -> dict[UUID, str]:
    """`{workspace_id: role}` for every workspace the user belongs to."""
    if not isinstance(user, User):
        return {}
    roles = getattr(user, _CACHE_ATTR, None)
    if roles is None:
        roles = dict(_ROLES.tuples(user._state.db or "default", user=user.pk))
        setattr(user, _CACHE_ATTR, roles)
    return roles


# Read on almost every request: compiled once (config.compiled).
_ROLES = CompiledQuery(
    lambda: Membership.objects.filter(user=Slot("user", UUIDField())).values_list(
        "workspace_id", "role"
    )
)


def forget_roles(user: Caller) -> None:
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def role_in(user: Caller, workspace_id: UUID) -> str | None:
    return workspace_roles(user).get(workspace_id)


def require_role(user: Caller, workspace_id: UUID, role: str = Role.VIEWER) -> str:
    """The caller's role in the workspace; 404 for non-members, 403 below `role`."""
    held = role_in(user, workspace_id)
    if held is None:
        raise NotFound()
    logs.workspace_id.set(str(workspace_id))  # the request's log line names its workspace
    if Role.rank(held) < Role.rank(role):
        raise PermissionDenied(f"This needs the {role} role or higher; you are {held}.")
    return held


def has_role(user: Caller, workspace_id: UUID, role: str) -> bool:
    held = role_in(user, workspace_id)
    return held is not None and Role.rank(held) >= Role.rank(role)


def workspace_scope(
    user: Caller, *, workspace_id: UUID | None = None, slug: str | None = None
) -> list[UUID]:
    """The workspaces a list covers: the one named (by id or slug), or every workspace of
    the caller; 404 when the named one does not exist or the caller is not a member."""
    roles = workspace_roles(user)
    if workspace_id is None and slug:
        found = Workspace.objects.filter(slug=slug).values_list("id", flat=True).first()
        if found is None:
            raise NotFound()
        workspace_id = found
    if workspace_id is None:
        return list(roles)
    if workspace_id not in roles:
        raise NotFound()
    return [workspace_id]


def workspace_for(user: Caller, slug: str, role: str = Role.VIEWER) -> Workspace:
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        raise NotFound()
    require_role(user, workspace.id, role)
    return workspace
