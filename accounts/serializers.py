import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from accounts.access import workspace_scope
from accounts.models import ApiToken, Membership, Role, User, Workspace, task_logs_enabled
from config.fields import BooleanField, IdField, SlugField, TextField
from config.representation import FastOutput, datetimes, uuid_text, writer


class ScopeQuerySerializer(serializers.Serializer[dict[str, Any]]):
    """The scope of a list: `workspaceId` (UUID) or `workspace` (slug); neither: all the
    caller's workspaces. A malformed id is a 404, as an unknown one is."""

    workspaceId = IdField(required=False, help_text="One workspace (UUID).")
    workspace = TextField(
        required=False, allow_blank=True, help_text="One workspace (slug); empty: not given."
    )


def requested_scope(request: Request) -> list[uuid.UUID]:
    """The workspace ids a list request covers (404 for a workspace not the caller's)."""
    params = request.query_params
    # An empty workspaceId is a malformed id (404); an empty slug names no workspace.
    data = {k: params[k] for k in ("workspaceId", "workspace") if k in params}
    if not data.get("workspace"):
        data.pop("workspace", None)
    query = ScopeQuerySerializer(data=data)
    query.is_valid(raise_exception=True)
    return workspace_scope(
        request.user,
        workspace_id=query.validated_data.get("workspaceId"),
        slug=query.validated_data.get("workspace"),
    )


class UserSerializer(FastOutput, serializers.ModelSerializer[User]):
    name = TextField(source="display_name")
    image = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "name", "email", "image"]

    def get_image(self, user: User) -> str | None:
        return user.image or None


class UserRefSerializer(UserSerializer):
    """The mobile clients' `createdBy`: `{id, name, image}`."""

    class Meta(UserSerializer.Meta):
        fields = ["id", "name", "image"]


class WorkspaceSerializer(FastOutput, serializers.ModelSerializer[Workspace]):
    role = TextField(read_only=True)
    features = serializers.SerializerMethodField()

    class Meta:
        model = Workspace
        fields = ["id", "slug", "name", "role", "features", "created_at"]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_features(self, workspace: Workspace) -> dict[str, object]:
        return features_of(workspace.features)

    # What `from_values` reads: values() rows of accounts.selectors.workspace_rows_of.
    VALUES = ("id", "slug", "name", "role", "features", "created_at")

    @staticmethod
    def from_values(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """What `WorkspaceSerializer(workspaces, many=True).data` writes, from values()
        rows (VALUES) instead of model instances."""
        when = datetimes()
        return [
            {
                "id": uuid_text(r["id"]),
                "slug": r["slug"],
                "name": r["name"],
                "role": r["role"],
                "features": features_of(r["features"]),
                "created_at": when(r["created_at"]),
            }
            for r in rows
        ]


def features_of(features: dict[str, Any]) -> dict[str, object]:
    """A workspace's `features` as the API shows them: as stored, and whether it keeps
    task logs after the deployment's switch."""
    return {**features, "taskLogsEnabled": task_logs_enabled(features)}


class WorkspaceCreateSerializer(serializers.Serializer[Workspace]):
    slug = SlugField(max_length=64)
    name = TextField(max_length=200)


class FeaturesSerializer(serializers.Serializer[dict[str, object]]):
    # Kept camelCase: `features` is stored and served verbatim.
    taskLogsEnabled = BooleanField(required=False)


class WorkspaceUpdateSerializer(serializers.Serializer[Workspace]):
    name = TextField(max_length=200, required=False)
    features = FeaturesSerializer(required=False)


class MembershipSerializer(FastOutput, serializers.ModelSerializer[Membership]):
    user = UserSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["user", "role", "created_at"]


class MemberAddSerializer(serializers.Serializer[Membership]):
    """Who to add, by exactly one of username, email or userId; `lookup()` is the user
    query it names and `field` the parameter it came in."""

    username = TextField(required=False)
    email = serializers.EmailField(required=False)
    user_id = serializers.UUIDField(required=False)
    role = serializers.ChoiceField(choices=Role.choices)

    LOOKUPS = {"username": "username", "email": "email__iexact", "user_id": "pk"}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [key for key in self.LOOKUPS if attrs.get(key)]
        if len(given) != 1:
            raise serializers.ValidationError("Give exactly one of username, email or userId.")
        attrs["field"] = given[0]
        attrs["lookup"] = {self.LOOKUPS[given[0]]: attrs[given[0]]}
        return attrs


class RoleSerializer(serializers.Serializer[Membership]):
    role = serializers.ChoiceField(choices=Role.choices)


class ApiTokenSerializer(FastOutput, serializers.ModelSerializer[ApiToken]):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = TextField(read_only=True, help_text="The secret, shown this once.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]


class ApiTokenCreateSerializer(serializers.Serializer[ApiToken]):
    name = TextField(max_length=100)
    expires_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)


class RealtimeConfigSerializer(serializers.Serializer[dict[str, object]]):
    key = TextField()
    ws_host = TextField(allow_null=True)
    ws_port = serializers.IntegerField(allow_null=True)
    forceTLS = serializers.BooleanField(source="force_tls")
    auth_endpoint = TextField()
    cluster = TextField(allow_null=True)


class MeSerializer(serializers.Serializer[dict[str, object]]):
    user = UserSerializer()
    workspaces = WorkspaceSerializer(many=True)
    features = serializers.DictField()
    realtime = RealtimeConfigSerializer()

    @staticmethod
    def from_values(
        user: User, workspace_rows: Iterable[Mapping[str, Any]], realtime: dict[str, object]
    ) -> dict[str, Any]:
        """What `MeSerializer` writes, with the workspaces from values() rows."""
        return {
            "user": writer(UserSerializer).to_representation(user),
            "workspaces": WorkspaceSerializer.from_values(workspace_rows),
            "features": dict(deployment_features()),
            "realtime": writer(RealtimeConfigSerializer).to_representation(realtime),
        }


def deployment_features() -> dict[str, object]:
    return {"taskLogsEnabled": settings.TASK_LOGS_ENABLED}
