"""HTTP edges of tasks, task groups, repositories and robots: parse, call one
selector or service, serialize."""

from typing import Any
from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import caller, has_role, require_role
from accounts.models import Role, Workspace
from accounts.views import enveloped
from config.envelope import no_content, success
from config.pagination import paginate, parse_page_request
from tasks import selectors, services
from tasks.models import ACTIVE_WORKFLOW, Task
from tasks.serializers import (
    RepositorySerializer,
    RepositoryUpdateSerializer,
    RobotSerializer,
    RobotUpdateSerializer,
    TaskChangedSerializer,
    TaskCreateSerializer,
    TaskDetailSerializer,
    TaskGroupSerializer,
    TaskRowSerializer,
    TaskUpdateSerializer,
)


def _param(name: str, kind: Any = str, description: str = "") -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, description=description)


SCOPE_PARAMS = [
    _param("workspaceId", OpenApiTypes.UUID, "One workspace (UUID)."),
    _param("workspace", str, "One workspace (slug)."),
]
PAGE_PARAMS = [
    _param("page", int, "Page number (>= 1)."),
    _param("limit", int, "Rows per page (1..1000)."),
    _param("cursor", str, "Opaque cursor from pagination.nextCursor."),
]
TASK_FILTER_PARAMS = [
    *SCOPE_PARAMS,
    _param("repoId", OpenApiTypes.UUID),
    _param("robotId", OpenApiTypes.UUID),
    _param("groupId", OpenApiTypes.UUID),
    _param("featureId", OpenApiTypes.UUID),
    _param("assigneeId", OpenApiTypes.UUID),
    _param("eventType", str, "Comma list of EventType."),
    _param("status", str, "Comma list of WorkflowStatus, `running`, or console aliases."),
    _param("taskStatus", str, "Comma list of TaskStatus."),
    _param("priority", str, "Comma list of Priority."),
    _param("sourceType", str, "Comma list of SourceType."),
    _param("search", str, "Title, description, branch (case-insensitive)."),
    _param("archived", bool),
    _param("includeArchived", bool, "true: archived tasks only."),
    _param("showAllStatuses", bool, "true: also TODO tasks that never ran."),
]
TASK_LIST_PARAMS = [
    *TASK_FILTER_PARAMS,
    _param("includeLatestMessage", bool),
    _param("sortBy", str, "createdAt, updatedAt, priority, title, status, workflowStatus."),
    _param("sortOrder", str, "asc or desc."),
    *PAGE_PARAMS,
]

StatsSerializer: Any = inline_serializer(
    name="TaskStats",
    fields={
        name: serializers.IntegerField()
        for name in (
            "total",
            "inProgress",
            "waitingForInput",
            "pending",
            "completed",
            "failed",
            "error",
            "halted",
            "queued",
            "processing",
            "success",
        )
    },
)
VolumeSerializer: Any = inline_serializer(
    name="TaskVolumeDay",
    fields={"day": serializers.DateField(), "count": serializers.IntegerField()},
)


def task_rows(page: selectors.TaskPage) -> Response:
    rows = TaskRowSerializer(
        page.rows, many=True, include_latest_message=page.include_latest_message
    ).data
    return success(rows, pagination=page.pagination)


class TaskListView(APIView):
    @extend_schema(
        operation_id="tasks_list",
        parameters=TASK_LIST_PARAMS,
        responses=enveloped("TaskList", TaskRowSerializer(many=True), paged=True),
    )
    def get(self, request: Request) -> Response:
        return task_rows(selectors.task_list(request.user, request.query_params))

    @extend_schema(
        operation_id="tasks_create",
        request=TaskCreateSerializer,
        responses={201: enveloped("TaskCreated", TaskDetailSerializer())},
    )
    def post(self, request: Request) -> Response:
        body = TaskCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        workspace_id = fields.pop("workspace_id")
        require_role(request.user, workspace_id, Role.DEVELOPER)
        workspace = Workspace.objects.get(pk=workspace_id)
        task = services.create_task(actor=caller(request), workspace=workspace, **fields)
        return success(task_detail(request, selectors.task_for(request.user, task.id)), status=201)


class TaskStatsView(APIView):
    @extend_schema(
        operation_id="tasks_stats",
        parameters=TASK_FILTER_PARAMS,
        responses=enveloped("TaskStatsResponse", StatsSerializer),
    )
    def get(self, request: Request) -> Response:
        return success(selectors.stats_for(request.user, request.query_params))


class TaskVolumeView(APIView):
    @extend_schema(
        operation_id="tasks_volume_by_day",
        parameters=[
            _param("repoId", OpenApiTypes.UUID),
            _param("workspaceId", OpenApiTypes.UUID),
            _param("startDay", OpenApiTypes.DATE, "YYYY-MM-DD, UTC, inclusive."),
            _param("endDay", OpenApiTypes.DATE, "YYYY-MM-DD, UTC, inclusive."),
        ],
        responses=enveloped("TaskVolume", serializers.ListField(child=VolumeSerializer)),
    )
    def get(self, request: Request) -> Response:
        return success(selectors.volume_by_day(request.user, request.query_params))


def task_detail(request: Request, task: Task) -> dict[str, Any]:
    user = request.user
    developer = has_role(user, task.workspace_id, Role.DEVELOPER)
    active = task.workflow_status in ACTIVE_WORKFLOW
    permissions = {
        "canRetry": developer and not task.archived and not active,
        "canDelete": has_role(user, task.workspace_id, Role.ADMIN),
        "canHalt": developer and active,
    }
    logs = selectors.recent_logs(task) if task.workspace.task_logs_enabled else None
    return TaskDetailSerializer(  # type: ignore[return-value]
        task, logs=logs, context={"permissions": permissions}
    ).data


class TaskDetailView(APIView):
    @extend_schema(
        operation_id="tasks_get", responses=enveloped("TaskDetailResponse", TaskDetailSerializer())
    )
    def get(self, request: Request, task_id: UUID) -> Response:
        task = selectors.task_for(request.user, task_id)
        return success(task_detail(request, task))

    @extend_schema(
        operation_id="tasks_update",
        request=TaskUpdateSerializer,
        responses=enveloped("TaskChangedResponse", TaskChangedSerializer(), key="task"),
    )
    def patch(self, request: Request, task_id: UUID) -> Response:
        task = selectors.task_for(request.user, task_id)
        require_role(request.user, task.workspace_id, Role.DEVELOPER)
        body = TaskUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        task = services.update_task(task, actor=caller(request), changes=dict(body.validated_data))
        return success(TaskChangedSerializer(task).data, key="task")

    @extend_schema(operation_id="tasks_delete", responses={204: None})
    def delete(self, request: Request, task_id: UUID) -> Response:
        task = selectors.task_for(request.user, task_id)
        require_role(request.user, task.workspace_id, Role.ADMIN)
        services.delete_task(task, actor=caller(request))
        return no_content()


# -- task groups ----------------------------------------------------------------------------


class TaskGroupListView(APIView):
    @extend_schema(
        operation_id="task_groups_list",
        parameters=[
            *SCOPE_PARAMS,
            _param("repoId", OpenApiTypes.UUID),
            _param("robotId", OpenApiTypes.UUID),
            _param("kind", str, "Comma list of TaskGroup kinds."),
            _param("search", str),
            _param("archived", bool),
            *PAGE_PARAMS,
        ],
        responses=enveloped("TaskGroupList", TaskGroupSerializer(many=True), paged=True),
    )
    def get(self, request: Request) -> Response:
        rows, pagination = selectors.group_list(request.user, request.query_params)
        return success(TaskGroupSerializer(rows, many=True).data, pagination=pagination)


class TaskGroupDetailView(APIView):
    @extend_schema(
        operation_id="task_groups_get",
        responses=enveloped("TaskGroupDetail", TaskGroupSerializer()),
    )
    def get(self, request: Request, group_id: UUID) -> Response:
        return success(TaskGroupSerializer(selectors.group_for(request.user, group_id)).data)


class TaskGroupTasksView(APIView):
    @extend_schema(
        operation_id="task_groups_tasks",
        parameters=TASK_LIST_PARAMS,
        responses=enveloped("TaskGroupTasks", TaskRowSerializer(many=True), paged=True),
    )
    def get(self, request: Request, group_id: UUID) -> Response:
        group = selectors.group_for(request.user, group_id)
        params = {"showAllStatuses": "true", **request.query_params.dict()}
        params.pop("workspaceId", None)
        params.pop("workspace", None)
        params["groupId"] = str(group.id)
        queryset, cleaned = selectors.filtered_tasks(request.user, params)
        page = selectors.task_page(
            queryset, params, include_latest_message=bool(cleaned.get("includeLatestMessage"))
        )
        return task_rows(page)


# -- repositories and robots ------------------------------------------------------------------


class RepositoryListView(APIView):
    @extend_schema(
        operation_id="repos_list",
        parameters=[*SCOPE_PARAMS, *PAGE_PARAMS],
        responses=enveloped("RepositoryList", RepositorySerializer(many=True), paged=True),
    )
    def get(self, request: Request) -> Response:
        page = parse_page_request(request.query_params, default_limit=100)
        rows, pagination = paginate(
            selectors.visible_repositories(request.user, request.query_params),
            page,
            ["name", "id"],
        )
        return success(RepositorySerializer(rows, many=True).data, pagination=pagination)

    @extend_schema(
        operation_id="repos_create",
        request=RepositorySerializer,
        responses={201: enveloped("RepositoryCreated", RepositorySerializer())},
    )
    def post(self, request: Request) -> Response:
        body = RepositorySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        workspace_id = fields.pop("workspace_id")
        require_role(request.user, workspace_id, Role.ADMIN)
        repo = services.create_repository(
            workspace=Workspace.objects.get(pk=workspace_id), **fields
        )
        return success(RepositorySerializer(repo).data, status=201)


class RepositoryDetailView(APIView):
    @extend_schema(
        operation_id="repos_get", responses=enveloped("RepositoryDetail", RepositorySerializer())
    )
    def get(self, request: Request, repo_id: UUID) -> Response:
        return success(RepositorySerializer(selectors.repository_for(request.user, repo_id)).data)

    @extend_schema(
        operation_id="repos_update",
        request=RepositoryUpdateSerializer,
        responses=enveloped("RepositoryUpdated", RepositorySerializer()),
    )
    def patch(self, request: Request, repo_id: UUID) -> Response:
        repo = selectors.repository_for(request.user, repo_id)
        require_role(request.user, repo.workspace_id, Role.ADMIN)
        body = RepositoryUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        services.update_row(repo, dict(body.validated_data))
        return success(RepositorySerializer(repo).data)

    @extend_schema(operation_id="repos_delete", responses={204: None})
    def delete(self, request: Request, repo_id: UUID) -> Response:
        repo = selectors.repository_for(request.user, repo_id)
        require_role(request.user, repo.workspace_id, Role.ADMIN)
        repo.delete()
        return no_content()


class RobotListView(APIView):
    @extend_schema(
        operation_id="robots_list",
        parameters=[*SCOPE_PARAMS, *PAGE_PARAMS],
        responses=enveloped("RobotList", RobotSerializer(many=True), paged=True),
    )
    def get(self, request: Request) -> Response:
        page = parse_page_request(request.query_params, default_limit=100)
        rows, pagination = paginate(
            selectors.visible_robots(request.user, request.query_params), page, ["name", "id"]
        )
        return success(RobotSerializer(rows, many=True).data, pagination=pagination)

    @extend_schema(
        operation_id="robots_create",
        request=RobotSerializer,
        responses={201: enveloped("RobotCreated", RobotSerializer())},
    )
    def post(self, request: Request) -> Response:
        body = RobotSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        workspace_id = fields.pop("workspace_id")
        require_role(request.user, workspace_id, Role.ADMIN)
        robot = services.create_robot(workspace=Workspace.objects.get(pk=workspace_id), **fields)
        return success(RobotSerializer(robot).data, status=201)


class RobotDetailView(APIView):
    @extend_schema(operation_id="robots_get", responses=enveloped("RobotDetail", RobotSerializer()))
    def get(self, request: Request, robot_id: UUID) -> Response:
        return success(RobotSerializer(selectors.robot_for(request.user, robot_id)).data)

    @extend_schema(
        operation_id="robots_update",
        request=RobotUpdateSerializer,
        responses=enveloped("RobotUpdated", RobotSerializer()),
    )
    def patch(self, request: Request, robot_id: UUID) -> Response:
        robot = selectors.robot_for(request.user, robot_id)
        require_role(request.user, robot.workspace_id, Role.ADMIN)
        body = RobotUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        services.update_robot(robot, dict(body.validated_data))
        return success(RobotSerializer(robot).data)

    @extend_schema(operation_id="robots_delete", responses={204: None})
    def delete(self, request: Request, robot_id: UUID) -> Response:
        robot = selectors.robot_for(request.user, robot_id)
        require_role(request.user, robot.workspace_id, Role.ADMIN)
        robot.delete()
        return no_content()
