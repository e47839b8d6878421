"""Identity and tenancy: /api/auth/me, the caller's API tokens, workspaces and their
members, as DRF viewsets (routed in accounts/urls.py)."""

from uuid import UUID

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors, services
from accounts.access import caller, require_role, workspace_for
from accounts.models import Membership, Role
from accounts.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    MemberAddSerializer,
    MembershipSerializer,
    MeSerializer,
    RoleSerializer,
    WorkspaceCreateSerializer,
    WorkspaceSerializer,
    WorkspaceUpdateSerializer,
    deployment_features,
)
from config import representation
from config.envelope import enveloped, no_content, success
from config.pagination import EnvelopePagination
from realtime.client_config import client_config


class MeViewSet(viewsets.ViewSet):
    @extend_schema(operation_id="auth_me", responses=enveloped("MeResponse", MeSerializer()))
    def list(self, request: Request) -> Response:
        if representation.VALUES_ROWS:
            rows = selectors.workspace_rows_of(caller(request), WorkspaceSerializer.VALUES)
            return success(MeSerializer.from_values(caller(request), rows, client_config()))
        data: dict[str, object] = {
            "user": request.user,
            "workspaces": selectors.workspaces_of(caller(request)),
            "features": deployment_features(),
            "realtime": client_config(),
        }
        return success(MeSerializer(data).data)


class TokenViewSet(viewsets.ViewSet):
    """The caller's own API tokens; the secret is shown once, at creation."""

    lookup_url_kwarg = "token_id"
    lookup_value_converter = "uuid"
    throttle_scopes = {"create": "tokens"}

    @extend_schema(
        operation_id="auth_tokens_list",
        responses=enveloped("TokenList", ApiTokenSerializer(many=True)),
    )
    def list(self, request: Request) -> Response:
        tokens = selectors.tokens_of(caller(request))
        return success(ApiTokenSerializer(tokens, many=True).data)

    @extend_schema(
        operation_id="auth_tokens_create",
        request=ApiTokenCreateSerializer,
        responses={201: enveloped("TokenCreated", ApiTokenCreatedSerializer())},
    )
    def create(self, request: Request) -> Response:
        body = ApiTokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token, raw = services.issue_token(user=caller(request), **body.validated_data)
        token.token = raw  # type: ignore[attr-defined]
        return success(ApiTokenCreatedSerializer(token).data, status=201)

    @extend_schema(operation_id="auth_tokens_revoke", responses={204: None})
    def destroy(self, request: Request, token_id: UUID) -> Response:
        get_object_or_404(selectors.tokens_of(caller(request)), pk=token_id).revoke()
        return no_content()


class WorkspaceViewSet(viewsets.ViewSet):
    lookup_field = "slug"
    lookup_value_converter = "slug"

    @extend_schema(
        operation_id="workspaces_list",
        responses=enveloped("WorkspaceList", WorkspaceSerializer(many=True)),
    )
    def list(self, request: Request) -> Response:
        workspaces = selectors.workspaces_of(caller(request))
        return success(WorkspaceSerializer(workspaces, many=True).data)

    @extend_schema(
        operation_id="workspaces_create",
        request=WorkspaceCreateSerializer,
        responses={201: enveloped("WorkspaceCreated", WorkspaceSerializer())},
    )
    def create(self, request: Request) -> Response:
        body = WorkspaceCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        workspace = services.create_workspace(user=caller(request), **body.validated_data)
        workspace.role = Role.OWNER  # type: ignore[attr-defined]
        return success(WorkspaceSerializer(workspace).data, status=201)

    @extend_schema(
        operation_id="workspaces_get", responses=enveloped("WorkspaceDetail", WorkspaceSerializer())
    )
    def retrieve(self, request: Request, slug: str) -> Response:
        workspace = workspace_for(request.user, slug)
        workspace.role = require_role(request.user, workspace.id)  # type: ignore[attr-defined]
        return success(WorkspaceSerializer(workspace).data)

    @extend_schema(
        operation_id="workspaces_update",
        request=WorkspaceUpdateSerializer,
        responses=enveloped("WorkspaceUpdated", WorkspaceSerializer()),
    )
    def partial_update(self, request: Request, slug: str) -> Response:
        workspace = workspace_for(request.user, slug, Role.ADMIN)
        body = WorkspaceUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.update_workspace(workspace, **body.validated_data)
        workspace.role = require_role(request.user, workspace.id)  # type: ignore[attr-defined]
        return success(WorkspaceSerializer(workspace).data)


class MemberViewSet(viewsets.GenericViewSet[Membership]):
    """/api/workspaces/{slug}/members: members read, ADMIN+ manage, anyone may leave."""

    queryset = Membership.objects.none()  # the model, for the schema
    lookup_url_kwarg = "user_id"
    lookup_value_converter = "uuid"
    pagination_class = EnvelopePagination
    default_limit = 100

    def page_order(self) -> list[str]:
        return ["created_at", "id"]

    def membership(self, slug: str, user_id: UUID, role: str) -> Membership:
        workspace = workspace_for(self.request.user, slug, role)
        return get_object_or_404(selectors.members_of(workspace), user_id=user_id)

    @extend_schema(
        operation_id="workspace_members_list",
        responses=enveloped("MemberList", MembershipSerializer(many=True), paged=True),
    )
    def list(self, request: Request, slug: str) -> Response:
        workspace = workspace_for(request.user, slug)
        rows = self.paginate_queryset(selectors.members_of(workspace)) or []
        return self.get_paginated_response(MembershipSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="workspace_members_add",
        request=MemberAddSerializer,
        responses={201: enveloped("MemberAdded", MembershipSerializer())},
    )
    def create(self, request: Request, slug: str) -> Response:
        workspace = workspace_for(request.user, slug, Role.ADMIN)
        body = MemberAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = selectors.colleague(caller(request), **body.validated_data["lookup"])
        if user is None:
            field = body.validated_data["field"]
            raise ValidationError({field: ["No such user among the members of your workspaces."]})
        membership = services.add_member(
            actor=caller(request), workspace=workspace, user=user, role=body.validated_data["role"]
        )
        return success(MembershipSerializer(membership).data, status=201)

    @extend_schema(
        operation_id="workspace_members_update",
        # Not the "Patched" (all optional) form drf-spectacular derives for a PATCH: the
        # new role is required.
        request={
            "application/json": {
                "type": "object",
                "required": ["role"],
                "properties": {"role": {"type": "string", "enum": Role.values}},
            }
        },
        responses=enveloped("MemberUpdated", MembershipSerializer()),
    )
    def partial_update(self, request: Request, slug: str, user_id: UUID) -> Response:
        membership = self.membership(slug, user_id, Role.ADMIN)
        body = RoleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.change_role(actor=caller(request), membership=membership, **body.validated_data)
        return success(MembershipSerializer(membership).data)

    @extend_schema(operation_id="workspace_members_remove", responses={204: None})
    def destroy(self, request: Request, slug: str, user_id: UUID) -> Response:
        # Anyone may leave; removing someone else takes ADMIN.
        leaving = user_id == request.user.pk
        membership = self.membership(slug, user_id, Role.VIEWER if leaving else Role.ADMIN)
        services.remove_member(actor=caller(request), membership=membership)
        return no_content()
