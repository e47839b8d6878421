"""The task, task-group, repository and robot resources: DRF viewsets (routed in
tasks/urls.py) that parse, call one selector or service, and serialize. Lists filter
with FilterSets (tasks/filters.py) and page with config.pagination."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import caller, require_role, workspace_roles
from accounts.models import Role, Workspace
from accounts.serializers import ScopeQuerySerializer, requested_scope
from config import representation
from config.envelope import enveloped, no_content, success
from config.filters import FilterBackend
from config.pagination import PAGE_PARAMETERS, EnvelopePagination, Partition, rows_of
from tasks import counters, filters, sections, selectors, services
from tasks.models import Repository, Robot, Task, TaskGroup
from tasks.serializers import (
    RepositoryCreatedSerializer,
    RepositorySerializer,
    RepositoryUpdateSerializer,
    RobotSerializer,
    RobotUpdateSerializer,
    TaskCreateSerializer,
    TaskDetailSerializer,
    TaskGroupSerializer,
    TaskRowSerializer,
    TaskUpdateSerializer,
    VolumeQuerySerializer,
    task_detail_data,
)

LIST_DEFAULT_LIMIT = 20
SCOPED_DEFAULT_LIMIT = 5

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


class ResourceViewSet(viewsets.GenericViewSet[Any]):
    """What the resources of this app share: uuid ids in the path, the FilterSet backend,
    envelope paging, and the scope (`workspaceId` / `workspace`) of their lists."""

    lookup_value_converter = "uuid"
    filter_backends = [FilterBackend]
    pagination_class = EnvelopePagination
    default_limit = 100

    def scope(self) -> list[UUID]:
        return requested_scope(self.request)

    def rows(self, queryset: QuerySet[Any]) -> list[Any]:
        """One page of the filtered list."""
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return list(page or [])


def list_limit(request: Request) -> int:
    """The contract's page size: 5 when a page or a workspace is named, else 20."""
    params = request.query_params
    scoped = params.get("page") or params.get("workspaceId") or params.get("workspace")
    return SCOPED_DEFAULT_LIMIT if scoped else LIST_DEFAULT_LIMIT


class TaskListMixin:
    """A list of tasks: the task FilterSet, its order, and the row sections asked for."""

    filterset: filters.TaskListFilter
    # Set by a list over several workspaces: each is read from its index and merged.
    partition: Partition | None = None
    counted_scope: Sequence[UUID] | None = None
    # The columns of a page read as values() rows; None: model instances.
    row_columns: Sequence[str] | None = None
    row_sections: list[str]  # the row sections asked for (includeLatestMessage)

    def page_order(self) -> list[str]:
        return self.filterset.order()

    def page_partition(self) -> Partition | None:
        return None if self.filterset.narrows() else self.partition

    def page_limit(self, request: Request) -> int:
        return list_limit(request)

    def task_rows(
        self, queryset: QuerySet[Task], counted_scope: Sequence[UUID] | None = None
    ) -> Response:
        """One page of `queryset` filtered; `counted_scope`: the workspaces `queryset` is
        all the live tasks of, whose counters then give totalCount (see page_total)."""
        queryset = self.filter_queryset(queryset)  # type: ignore[attr-defined]
        self.counted_scope = counted_scope
        latest = self.filterset_flag("includeLatestMessage")
        self.row_sections = ["latest_message"] if latest else []
        # values() rows, written without model instances, when every section asked for
        # can load into them.
        extra = sections.values_columns(sections.ROW_SECTIONS, self.row_sections)
        as_values = extra is not None and representation.VALUES_ROWS
        self.row_columns = [*TaskRowSerializer.VALUES, *(extra or ())] if as_values else None
        rows = list(self.paginate_queryset(queryset) or [])  # type: ignore[attr-defined]
        if as_values:
            sections.load_values(sections.ROW_SECTIONS, self.row_sections, rows)
            data: Any = TaskRowSerializer.from_values(rows, self.row_sections)
        else:
            sections.load(sections.ROW_SECTIONS, self.row_sections, rows)
            data = TaskRowSerializer(rows, many=True, sections=self.row_sections).data
        return self.get_paginated_response(data)  # type: ignore[attr-defined,no-any-return]

    def page_rows(self, ordered: QuerySet[Task], order: Sequence[str], ids: Any) -> list[Any]:
        """A page's rows of its ids (read without any of this: config.pagination)."""
        if self.row_columns is not None:
            keys = [key.lstrip("-") for key in order]
            columns = [*self.row_columns, *(key for key in keys if key not in self.row_columns)]
            return selectors.task_row_values(
                ordered, order, ids, columns, self.row_sections, ids_first=self.filterset.narrows()
            )
        page = rows_of(ordered, order, ids)
        for name in self.row_sections:
            page = sections.ROW_SECTIONS[name].annotate(page)
        return list(selectors.task_rows(page))

    def page_total(self) -> int | None:
        """totalCount from the workspace counters when the filters allow it (only the
        counted ones: status, taskStatus, archived ...); None: count the rows."""
        if self.counted_scope is None or not self.filterset.is_counted():
            return None
        return counters.live_total(self.counted_scope, self.filterset.counted_condition())

    def filterset_flag(self, name: str) -> bool:
        return bool(self.filterset.form.cleaned_data.get(name))


class TaskViewSet(TaskListMixin, ResourceViewSet):
    """/api/tasks: list (filters, page or cursor), create, stats, volume; /api/tasks/{id}:
    detail, PATCH, soft delete. Retry, halt and logs are the runs app's (runs/views.py)."""

    queryset = Task.objects.none()  # the model, for the schema; rows come from selectors
    lookup_url_kwarg = "task_id"
    throttle_scopes = {"create": "runs"}

    @property
    def filterset_class(self) -> type[filters.TaskFilter] | None:  # type: ignore[override]
        return {"list": filters.TaskListFilter, "stats": filters.TaskFilter}.get(self.action)

    @extend_schema(
        operation_id="tasks_list",
        parameters=[ScopeQuerySerializer],
        responses=enveloped("TaskList", TaskRowSerializer(many=True), paged=True),
    )
    def list(self, request: Request) -> Response:
        scope = self.scope()
        self.partition = Partition("workspace_id", scope)
        return self.task_rows(selectors.visible_tasks(scope), counted_scope=scope)

    @extend_schema(
        operation_id="tasks_create",
        request=TaskCreateSerializer,
        responses={201: enveloped("TaskCreated", TaskDetailSerializer())},
    )
    def create(self, request: Request) -> Response:
        body = TaskCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        workspace_id = fields.pop("workspace_id")
        require_role(request.user, workspace_id, Role.DEVELOPER)
        workspace = Workspace.objects.get(pk=workspace_id)
        task = services.create_task(actor=caller(request), workspace=workspace, **fields)
        detail = task_detail_data(selectors.task_for(caller(request), task.id), caller(request))
        return success(detail, status=201)

    @extend_schema(
        operation_id="tasks_stats",
        parameters=[ScopeQuerySerializer],
        filters=True,
        responses=enveloped("TaskStatsResponse", StatsSerializer),
    )
    @action(detail=False)
    def stats(self, request: Request) -> Response:
        scope = self.scope()
        # Validated first: counts the counters answer need no queryset built.
        filterset = FilterBackend().validated(request, Task.objects.all(), self)
        if filterset.is_counted():
            return success(selectors.counted_stats(scope, filterset.counted_condition()))
        queryset = filterset.filter_queryset(selectors.visible_tasks(scope))
        return success(selectors.task_stats(queryset))

    @extend_schema(
        operation_id="tasks_volume_by_day",
        parameters=[VolumeQuerySerializer],
        responses=enveloped("TaskVolume", serializers.ListField(child=VolumeSerializer)),
    )
    @action(detail=False)
    def volume(self, request: Request) -> Response:
        query = VolumeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        days = query.validated_data
        repository = (
            selectors.repository_for(caller(request), days["repoId"])
            if days.get("repoId")
            else None
        )
        volume = selectors.volume_by_day(
            requested_scope(request), days["startDay"], days["endDay"], repository
        )
        return success(volume)

    @extend_schema(
        operation_id="tasks_get",
        responses=enveloped("TaskDetailResponse", TaskDetailSerializer()),
    )
    def retrieve(self, request: Request, task_id: UUID) -> Response:
        task = selectors.task_for(caller(request), task_id)
        return success(task_detail_data(task, caller(request)))

    @extend_schema(
        operation_id="tasks_update",
        request=TaskUpdateSerializer,
        responses=enveloped("TaskChangedResponse", TaskDetailSerializer(), key="task"),
    )
    def partial_update(self, request: Request, task_id: UUID) -> Response:
        task = selectors.task_for(caller(request), task_id, Role.DEVELOPER)
        body = TaskUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        services.update_task(task, actor=caller(request), changes=dict(body.validated_data))
        detail = task_detail_data(selectors.task_for(caller(request), task_id), caller(request))
        return success(detail, key="task")

    @extend_schema(operation_id="tasks_delete", responses={204: None})
    def destroy(self, request: Request, task_id: UUID) -> Response:
        task = selectors.task_for(caller(request), task_id, Role.ADMIN)
        services.delete_task(task, actor=caller(request))
        return no_content()


class TaskGroupViewSet(ResourceViewSet):
    """/api/task-groups: newest activity first."""

    queryset = TaskGroup.objects.none()  # the model, for the schema; rows come from selectors
    lookup_url_kwarg = "group_id"

    filterset_class = filters.TaskGroupFilter
    filterset: filters.TaskGroupFilter
    partition: Partition | None = None

    def page_order(self) -> list[str]:
        return list(selectors.GROUP_ORDER)

    def page_partition(self) -> Partition | None:
        """Every workspace's newest groups merged (config.pagination), unless a filter
        keeps few of them."""
        return None if self.filterset.narrows() else self.partition

    def page_rows(self, ordered: QuerySet[TaskGroup], order: Sequence[str], ids: Any) -> Any:
        return selectors.group_rows(ordered, order, ids)

    @extend_schema(
        operation_id="task_groups_list",
        parameters=[ScopeQuerySerializer],
        responses=enveloped("TaskGroupList", TaskGroupSerializer(many=True), paged=True),
    )
    def list(self, request: Request) -> Response:
        scope = self.scope()
        self.partition = Partition("workspace_id", scope)
        rows = self.rows(selectors.visible_groups(scope))
        selectors.attach_latest_tasks(rows)
        return self.get_paginated_response(TaskGroupSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="task_groups_get",
        responses=enveloped("TaskGroupDetail", TaskGroupSerializer()),
    )
    def retrieve(self, request: Request, group_id: UUID) -> Response:
        return success(TaskGroupSerializer(selectors.group_for(caller(request), group_id)).data)


class GroupTasksViewSet(TaskListMixin, ResourceViewSet):
    """/api/task-groups/{id}/tasks: the list's filters and paging, every status shown."""

    queryset = Task.objects.none()  # the model, for the schema; rows come from selectors
    lookup_url_kwarg = "group_id"
    filterset_class = filters.GroupTaskFilter

    @extend_schema(
        operation_id="task_groups_tasks",
        parameters=PAGE_PARAMETERS,
        filters=True,
        responses=enveloped("TaskGroupTasks", TaskRowSerializer(many=True), paged=True),
    )
    @action(detail=True)
    def tasks(self, request: Request, group_id: UUID) -> Response:
        group = selectors.group_for(caller(request), group_id)
        return self.task_rows(selectors.live_tasks().filter(group=group))


class RepositoryViewSet(ResourceViewSet):
    """/api/repos: any member reads, ADMIN+ writes."""

    queryset = Repository.objects.none()  # the model, for the schema; rows come from selectors
    lookup_url_kwarg = "repo_id"

    def page_order(self) -> list[str]:
        return ["name", "id"]

    @extend_schema(
        operation_id="repos_list",
        parameters=[ScopeQuerySerializer],
        responses=enveloped("RepositoryList", RepositorySerializer(many=True), paged=True),
    )
    def list(self, request: Request) -> Response:
        rows = self.rows(selectors.visible_repositories(self.scope()))
        return self.get_paginated_response(RepositorySerializer(rows, many=True).data)

    @extend_schema(
        operation_id="repos_create",
        request=RepositorySerializer,
        responses={201: enveloped("RepositoryCreatedResponse", RepositoryCreatedSerializer())},
    )
    def create(self, request: Request) -> Response:
        body = RepositorySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        workspace_id = fields.pop("workspace_id")
        require_role(request.user, workspace_id, Role.ADMIN)
        repo = services.create_repository(
            workspace=Workspace.objects.get(pk=workspace_id), **fields
        )
        return success(RepositoryCreatedSerializer(repo).data, status=201)

    @extend_schema(
        operation_id="repos_get",
        responses=enveloped("RepositoryDetail", RepositorySerializer()),
    )
    def retrieve(self, request: Request, repo_id: UUID) -> Response:
        repo = selectors.repository_for(caller(request), repo_id)
        return success(RepositorySerializer(repo).data)

    @extend_schema(
        operation_id="repos_update",
        request=RepositoryUpdateSerializer,
        responses=enveloped("RepositoryUpdated", RepositorySerializer()),
    )
    def partial_update(self, request: Request, repo_id: UUID) -> Response:
        repo = selectors.repository_for(caller(request), repo_id, Role.ADMIN)
        body = RepositoryUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        services.update_row(repo, dict(body.validated_data))
        return success(RepositorySerializer(repo).data)

    @extend_schema(operation_id="repos_delete", responses={204: None})
    def destroy(self, request: Request, repo_id: UUID) -> Response:
        selectors.repository_for(caller(request), repo_id, Role.ADMIN).delete()
        return no_content()


def robot_context(request: Request) -> dict[str, Any]:
    """Whose robots' `config` the caller sees: ADMIN+ of their workspace only."""
    roles = workspace_roles(caller(request))
    return {"config_workspaces": {w for w, role in roles.items() if has_role_rank(role)}}


def has_role_rank(role: str) -> bool:
    return Role.rank(role) >= Role.rank(Role.ADMIN)


class RobotViewSet(ResourceViewSet):
    """/api/robots: any member reads, ADMIN+ writes."""

    queryset = Robot.objects.none()  # the model, for the schema; rows come from selectors
    lookup_url_kwarg = "robot_id"

    def page_order(self) -> list[str]:
        return ["name", "id"]

    @extend_schema(
        operation_id="robots_list",
        parameters=[ScopeQuerySerializer],
        responses=enveloped("RobotList", RobotSerializer(many=True), paged=True),
    )
    def list(self, request: Request) -> Response:
        rows = self.rows(selectors.visible_robots(self.scope()))
        context = robot_context(request)
        return self.get_paginated_response(RobotSerializer(rows, many=True, context=context).data)

    @extend_schema(
        operation_id="robots_create",
        request=RobotSerializer,
        responses={201: enveloped("RobotCreated", RobotSerializer())},
    )
    def create(self, request: Request) -> Response:
        body = RobotSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        workspace_id = fields.pop("workspace_id")
        require_role(request.user, workspace_id, Role.ADMIN)
        robot = services.create_robot(
            actor=caller(request), workspace=Workspace.objects.get(pk=workspace_id), **fields
        )
        return success(RobotSerializer(robot, context=robot_context(request)).data, status=201)

    @extend_schema(
        operation_id="robots_get",
        responses=enveloped("RobotDetail", RobotSerializer()),
    )
    def retrieve(self, request: Request, robot_id: UUID) -> Response:
        robot = selectors.robot_for(caller(request), robot_id)
        return success(RobotSerializer(robot, context=robot_context(request)).data)

    @extend_schema(
        operation_id="robots_update",
        request=RobotUpdateSerializer,
        responses=enveloped("RobotUpdated", RobotSerializer()),
    )
    def partial_update(self, request: Request, robot_id: UUID) -> Response:
        robot = selectors.robot_for(caller(request), robot_id, Role.ADMIN)
        body = RobotUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        services.update_robot(robot, dict(body.validated_data), actor=caller(request))
        return success(RobotSerializer(robot, context=robot_context(request)).data)

    @extend_schema(operation_id="robots_delete", responses={204: None})
    def destroy(self, request: Request, robot_id: UUID) -> Response:
        selectors.robot_for(caller(request), robot_id, Role.ADMIN).delete()
        return no_content()
