"""The dashboard's read models: the console sidebar and the waiting-for-input count."""

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import workspace_for
from accounts.serializers import ScopeQuerySerializer, requested_scope
from config import representation
from config.envelope import enveloped, success
from config.representation import writer
from dashboard import selectors
from tasks.selectors import waiting_for_input_count
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


NotificationsCount: Any = inline_serializer(
    name="NotificationsCount", fields={"waitingForInputCount": serializers.IntegerField()}
)


class DashboardViewSet(viewsets.ViewSet):
    """GET /api/dashboard/sidebar."""

    @extend_schema(
        operation_id="dashboard_sidebar",
        parameters=[ScopeQuerySerializer],
        responses=enveloped("SidebarResponse", SidebarSerializer()),
    )
    @action(detail=False)
    def sidebar(self, request: Request) -> Response:
        if not representation.VALUES_ROWS:
            return success(SidebarSerializer(selectors.sidebar(requested_scope(request))).data)
        # What SidebarSerializer writes, from values() rows and with serializers built once
        # (config.representation): building its nested serializers' fields cost more than
        # its ten queries.
        snapshot = selectors.sidebar(requested_scope(request), TaskRowSerializer.VALUES)
        groups = writer(TaskGroupSerializer)
        return success(
            {
                "stats": snapshot["stats"],
                "tasks_by_status": {
                    state: TaskRowSerializer.from_values(rows)
                    for state, rows in snapshot["tasks_by_status"].items()
                },
                "task_groups": [groups.to_representation(g) for g in snapshot["task_groups"]],
            }
        )


class WorkspaceTasksViewSet(viewsets.ViewSet):
    """GET /api/workspaces/{slug}/tasks/notifications-count."""

    lookup_field = "slug"
    lookup_value_converter = "slug"

    @extend_schema(
        operation_id="workspace_tasks_notifications_count",
        responses=enveloped("NotificationsCountResponse", NotificationsCount),
    )
    @action(detail=True, url_path="tasks/notifications-count")
    def notifications_count(self, request: Request, slug: str) -> Response:
        workspace = workspace_for(request.user, slug)
        return success({"waitingForInputCount": waiting_for_input_count(workspace)})
