from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.access import forget_roles, require_role
from accounts.models import ApiToken, Membership, Role, User, Workspace
from config.exceptions import Conflict, Forbidden, invalid


@transaction.atomic
def create_workspace(*, user: User, slug: str, name: str) -> Workspace:
    """A new workspace, its creator its OWNER; WORKSPACE_CREATION=staff keeps this to staff
    (an OWNER manages robots, so the operator may want to choose who becomes one)."""
    if settings.WORKSPACE_CREATION == "staff" and not user.is_staff:
        raise Forbidden("FORBIDDEN", "Only staff may create workspaces on this server.")
    if Workspace.objects.filter(slug=slug).exists():
        raise invalid("slug", "This slug is taken.")
    try:
        with transaction.atomic():
            workspace = Workspace.objects.create(slug=slug, name=name, owner=user)
    except IntegrityError:
        raise invalid("slug", "This slug is taken.") from None
    Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    forget_roles(user)
    return workspace


def update_workspace(
    workspace: Workspace, *, name: str | None = None, features: dict[str, Any] | None = None
) -> Workspace:
    if name is not None:
        workspace.name = name
    if features is not None:
        workspace.features = {**workspace.features, **features}
    workspace.save(update_fields=["name", "features"])
    return workspace


@transaction.atomic
def add_member(*, actor: User, workspace: Workspace, user: User, role: str) -> Membership:
    _check_may_grant(actor, workspace, role)
    membership, created = Membership.objects.get_or_create(
        workspace=workspace, user=user, defaults={"role": role}
    )
    if not created:
        raise Conflict("ALREADY_MEMBER", f"{user.username} is already a member.")
    return membership


@transaction.atomic
def change_role(*, actor: User, membership: Membership, role: str) -> Membership:
    _check_may_grant(actor, membership.workspace, role)
    _check_may_manage(actor, membership)
    if membership.role == Role.OWNER and role != Role.OWNER:
        _check_not_last_owner(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(*, actor: User, membership: Membership) -> None:
    if membership.user_id != actor.pk:
        _check_may_manage(actor, membership)
    if membership.role == Role.OWNER:
        _check_not_last_owner(membership)
    membership.delete()


def _check_may_grant(actor: User, workspace: Workspace, role: str) -> None:
    if role == Role.OWNER:
        require_role(actor, workspace.id, Role.OWNER)


def _check_may_manage(actor: User, membership: Membership) -> None:
    if membership.role == Role.OWNER:
        require_role(actor, membership.workspace_id, Role.OWNER)


def _check_not_last_owner(membership: Membership) -> None:
    owners = (
        Membership.objects.select_for_update()
        .filter(workspace_id=membership.workspace_id, role=Role.OWNER)
        .values_list("pk", flat=True)
    )
    if list(owners) == [membership.pk]:
        raise Conflict("LAST_OWNER", "A workspace keeps at least one owner.")


def issue_token(*, user: User, name: str, expires_days: int | None = None) -> tuple[ApiToken, str]:
    expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
    return ApiToken.issue(user, name, expires_at)
