from django.db.models import F, QuerySet

from accounts.models import ApiToken, Membership, User, Workspace


def workspaces_of(user: User) -> QuerySet[Workspace]:
    """The caller's workspaces, each annotated with the caller's `role`."""
    return (
        Workspace.objects.filter(memberships__user=user)
        .annotate(role=F("memberships__role"))
        .order_by("slug")
    )


def members_of(workspace: Workspace) -> QuerySet[Membership]:
    return Membership.objects.filter(workspace=workspace).select_related("user")


def tokens_of(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at")
