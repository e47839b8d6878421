from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db.models import Exists, F, OuterRef, QuerySet, UUIDField

from accounts.models import ApiToken, Membership, User, Workspace
from config.apitext import as_text
from config.compiled import CompiledQuery, Slot


def workspaces_of(user: User | Slot) -> QuerySet[Workspace]:
    """The caller's workspaces, each annotated with the caller's `role`."""
    return (
        Workspace.objects.filter(memberships__user=user)
        .annotate(role=F("memberships__role"))
        .order_by("slug")
    )


def workspace_rows_of(user: User, columns: Sequence[str]) -> list[dict[str, Any]]:
    """`workspaces_of` as values() rows of these columns (`role` among them), in one
    query compiled once (auth/me reads it on every start of a client); PostgreSQL writes
    their ids and times (config.apitext)."""
    return _workspace_rows(tuple(columns)).rows(user=user.pk)


@cache
def _workspace_rows(columns: tuple[str, ...]) -> CompiledQuery:
    return CompiledQuery(
        lambda: as_text(
            workspaces_of(Slot("user", UUIDField())).values(*columns),
            *(name for name in ("id", "created_at") if name in columns),
        )
    )


def members_of(workspace: Workspace) -> QuerySet[Membership]:
    return Membership.objects.filter(workspace=workspace).select_related("user")


def tokens_of(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def colleague(actor: User, **lookup: Any) -> User | None:
    """The active user `lookup` names, if they share a workspace with `actor`: members are
    added from the people one already works with, so the answer tells nothing about
    accounts beyond them (docs/API.md)."""
    shared = Membership.objects.filter(user=OuterRef("pk"), workspace__memberships__user=actor)
    return User.objects.filter(is_active=True, **lookup).filter(Exists(shared)).first()


def still_valid(user_id: str, token_id: str) -> User | None:
    """The user a realtime grant was signed for, if they and their token still hold."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    if token_id and not ApiToken.objects.active().filter(pk=token_id, user=user).exists():
        return None
    return user
