from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import workspace_for
from accounts.views import enveloped
from config.envelope import success
from dashboard import selectors
from tasks.serializers import TaskGroupSerializer, TaskRowSerializer


class TasksByStatusSerializer(serializers.Serializer[dict[str, Any]]):
    queued = TaskRowSerializer(many=True)
    processing = TaskRowSerializer(many=True)
    success = TaskRowSerializer(many=True)
    failed = TaskRowSerializer(many=True)


class SidebarSerializer(serializers.Serializer[dict[str, Any]]):
    stats = serializers.DictField(child=serializers.IntegerField())  # as GET /api/tasks/stats
    tasks_by_status = TasksByStatusSerializer()
    task_groups = TaskGroupSerializer(many=True)


class SidebarView(APIView):
    @extend_schema(
        operation_id="dashboard_sidebar",
        parameters=[
            OpenApiParameter("workspaceId", OpenApiTypes.UUID, OpenApiParameter.QUERY),
            OpenApiParameter("workspace", str, OpenApiParameter.QUERY),
        ],
        responses=enveloped("SidebarResponse", SidebarSerializer()),
    )
    def get(self, request: Request) -> Response:
        snapshot = selectors.sidebar(request.user, request.query_params)
        return success(SidebarSerializer(snapshot).data)


NotificationsCount: Any = inline_serializer(
    name="NotificationsCount", fields={"waitingForInputCount": serializers.IntegerField()}
)


class NotificationsCountView(APIView):
    @extend_schema(
        operation_id="workspace_tasks_notifications_count",
        responses=enveloped("NotificationsCountResponse", NotificationsCount),
    )
    def get(self, request: Request, slug: str) -> Response:
        workspace = workspace_for(request.user, slug)
        return success({"waitingForInputCount": selectors.waiting_for_input_count(workspace)})
