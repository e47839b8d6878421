from typing import Any
from uuid import UUID

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

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
from config.envelope import no_content, success
from config.pagination import paginate, parse_page_request
from realtime.client_config import client_config


def enveloped(name: str, serializer: Any, *, key: str = "data", paged: bool = False) -> Any:
    """The schema of `{"success": true, key: <serializer>}` for drf-spectacular."""
    fields: dict[str, Any] = {"success": serializers.BooleanField(), key: serializer}
    if paged:
        fields["pagination"] = serializers.DictField()
    return inline_serializer(name=name, fields=fields)


class MeView(APIView):
    @extend_schema(operation_id="auth_me", responses=enveloped("MeResponse", MeSerializer()))
    def get(self, request: Request) -> Response:
        data: dict[str, object] = {
            "user": request.user,
            "workspaces": selectors.workspaces_of(request.user),
            "features": deployment_features(),
            "realtime": client_config(),
        }
        return success(MeSerializer(data).data)


class TokenListView(APIView):
    @extend_schema(
        operation_id="auth_tokens_list",
        responses=enveloped("TokenList", ApiTokenSerializer(many=True)),
    )
    def get(self, request: Request) -> Response:
        return success(ApiTokenSerializer(selectors.tokens_of(request.user), many=True).data)

    @extend_schema(
        operation_id="auth_tokens_create",
        request=ApiTokenCreateSerializer,
        responses={201: enveloped("TokenCreated", ApiTokenCreatedSerializer())},
    )
    def post(self, request: Request) -> Response:
        body = ApiTokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token, raw = services.issue_token(user=caller(request), **body.validated_data)
        token.token = raw  # type: ignore[attr-defined]
        return success(ApiTokenCreatedSerializer(token).data, status=201)


class TokenDetailView(APIView):
    @extend_schema(operation_id="auth_tokens_revoke", responses={204: None})
    def delete(self, request: Request, token_id: UUID) -> Response:
        get_object_or_404(selectors.tokens_of(request.user), pk=token_id).revoke()
        return no_content()


class WorkspaceListView(APIView):
    @extend_schema(
        operation_id="workspaces_list",
        responses=enveloped("WorkspaceList", WorkspaceSerializer(many=True)),
    )
    def get(self, request: Request) -> Response:
        return success(WorkspaceSerializer(selectors.workspaces_of(request.user), many=True).data)

    @extend_schema(
        operation_id="workspaces_create",
        request=WorkspaceCreateSerializer,
        responses={201: enveloped("WorkspaceCreated", WorkspaceSerializer())},
    )
    def post(self, request: Request) -> Response:
        body = WorkspaceCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        workspace = services.create_workspace(user=caller(request), **body.validated_data)
        workspace.role = Role.OWNER  # type: ignore[attr-defined]
        return success(WorkspaceSerializer(workspace).data, status=201)


class WorkspaceDetailView(APIView):
    @extend_schema(
        operation_id="workspaces_get", responses=enveloped("WorkspaceDetail", WorkspaceSerializer())
    )
    def get(self, request: Request, slug: str) -> Response:
        workspace = workspace_for(request.user, slug)
        workspace.role = require_role(request.user, workspace.id)  # type: ignore[attr-defined]
        return success(WorkspaceSerializer(workspace).data)

    @extend_schema(
        operation_id="workspaces_update",
        request=WorkspaceUpdateSerializer,
        responses=enveloped("WorkspaceUpdated", WorkspaceSerializer()),
    )
    def patch(self, request: Request, slug: str) -> Response:
        workspace = workspace_for(request.user, slug, Role.ADMIN)
        body = WorkspaceUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.update_workspace(workspace, **body.validated_data)
        workspace.role = require_role(request.user, workspace.id)  # type: ignore[attr-defined]
        return success(WorkspaceSerializer(workspace).data)


class MemberListView(APIView):
    @extend_schema(
        operation_id="workspace_members_list",
        responses=enveloped("MemberList", MembershipSerializer(many=True), paged=True),
    )
    def get(self, request: Request, slug: str) -> Response:
        workspace = workspace_for(request.user, slug)
        page = parse_page_request(request.query_params, default_limit=100)
        rows, pagination = paginate(selectors.members_of(workspace), page, ["created_at", "id"])
        return success(MembershipSerializer(rows, many=True).data, pagination=pagination)

    @extend_schema(
        operation_id="workspace_members_add",
        request=MemberAddSerializer,
        responses={201: enveloped("MemberAdded", MembershipSerializer())},
    )
    def post(self, request: Request, slug: str) -> Response:
        workspace = workspace_for(request.user, slug, Role.ADMIN)
        body = MemberAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        membership = services.add_member(
            actor=caller(request),
            workspace=workspace,
            user=body.validated_data["user"],
            role=body.validated_data["role"],
        )
        return success(MembershipSerializer(membership).data, status=201)


class MemberDetailView(APIView):
    def membership(self, request: Request, slug: str, user_id: UUID, role: str) -> Membership:
        workspace = workspace_for(request.user, slug, role)
        return get_object_or_404(selectors.members_of(workspace), user_id=user_id)

    @extend_schema(
        operation_id="workspace_members_update",
        request=RoleSerializer,
        responses=enveloped("MemberUpdated", MembershipSerializer()),
    )
    def patch(self, request: Request, slug: str, user_id: UUID) -> Response:
        membership = self.membership(request, slug, user_id, Role.ADMIN)
        body = RoleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.change_role(actor=caller(request), membership=membership, **body.validated_data)
        return success(MembershipSerializer(membership).data)

    @extend_schema(operation_id="workspace_members_remove", responses={204: None})
    def delete(self, request: Request, slug: str, user_id: UUID) -> Response:
        # Anyone may leave; removing someone else takes ADMIN.
        leaving = user_id == request.user.pk
        membership = self.membership(request, slug, user_id, Role.VIEWER if leaving else Role.ADMIN)
        services.remove_member(actor=caller(request), membership=membership)
        return no_content()
