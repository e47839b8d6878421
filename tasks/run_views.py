"""Endpoints of execution: retry, halt, and the task's logs (the SSE stream is
tasks/consumers.py). Thin: look up the task with the caller's role, call execution or logs."""

import json
from typing import Any
from uuid import UUID

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import require_role
from accounts.models import Role
from config.authentication import QueryTokenAuthentication
from config.envelope import no_content, success
from config.exceptions import NotFoundError, invalid
from config.renderers import CamelCaseJSONRenderer
from tasks import execution, logs
from tasks.models import Task
from tasks.serializers import TaskRunSerializer


class ExecutionTaskSerializer(serializers.ModelSerializer[Task]):
    """The task after retry/halt. (At merge: the tasks detail serializer can replace it.)"""

    workspace_id = serializers.UUIDField()
    status = serializers.CharField(help_text="TaskStatus (board column).")
    workflow_status = serializers.CharField(allow_null=True, help_text="WorkflowStatus.")
    runs = TaskRunSerializer(many=True, read_only=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "workspace_id",
            "title",
            "status",
            "workflow_status",
            "retries",
            "archived",
            "error",
            "workflow_started_at",
            "workflow_completed_at",
            "updated_at",
            "runs",
        ]


class LogLineSerializer(serializers.Serializer[Any]):
    seq = serializers.IntegerField()
    runNumber = serializers.IntegerField()
    stream = serializers.ChoiceField(choices=["stdout", "stderr", "system"])
    line = serializers.CharField()
    createdAt = serializers.DateTimeField()


def task_for(request: Request, task_id: UUID, role: str) -> Task:
    """The live task, if the caller holds `role` in its workspace (404 for non-members)."""
    task = Task.objects.select_related("workspace").filter(pk=task_id, deleted=False).first()
    if task is None:
        raise NotFoundError()
    require_role(request.user, task.workspace_id, role)
    return task


def logs_task_for(request: Request, task_id: UUID, role: str) -> Task:
    task = task_for(request, task_id, Role.VIEWER)
    if not task.workspace.task_logs_enabled:
        raise NotFoundError("TASK_LOGS_DISABLED", "Task logs are disabled for this workspace.")
    require_role(request.user, task.workspace_id, role)
    return task


def task_body(task: Task) -> dict[str, Any]:
    fresh = Task.objects.prefetch_related("runs").get(pk=task.pk)
    return ExecutionTaskSerializer(fresh).data  # type: ignore[return-value]


def enveloped_task(name: str) -> Any:
    return inline_serializer(
        name=name, fields={"success": serializers.BooleanField(), "data": ExecutionTaskSerializer()}
    )


def int_param(
    request: Request, name: str, *, low: int, high: int | None = None, default: int | None = None
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, "Must be an integer.") from None
    if value < low or (high is not None and value > high):
        raise invalid(name, f"Must be between {low} and {high}." if high else f"Must be >= {low}.")
    return value


class TaskRetryView(APIView):
    @extend_schema(
        operation_id="tasks_retry",
        request=None,
        parameters=[
            OpenApiParameter("force", OpenApiTypes.BOOL, description="Only for stale runs.")
        ],
        responses={202: enveloped_task("TaskRetried")},
    )
    def post(self, request: Request, task_id: UUID) -> Response:
        task = task_for(request, task_id, Role.DEVELOPER)
        force = request.query_params.get("force", "").lower() in {"1", "true", "yes"}
        execution.retry(task, force=force)
        return success(task_body(task), status=202)


class TaskHaltView(APIView):
    @extend_schema(
        operation_id="tasks_halt", request=None, responses={202: enveloped_task("TaskHalted")}
    )
    def post(self, request: Request, task_id: UUID) -> Response:
        task = task_for(request, task_id, Role.DEVELOPER)
        execution.halt(task)
        return success(task_body(task), status=202)


class TaskLogsView(APIView):
    @extend_schema(
        operation_id="tasks_logs_get",
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, description="1..1000, default 200"),
            OpenApiParameter("before", OpenApiTypes.INT, description="Lines with a lower seq."),
            OpenApiParameter("after", OpenApiTypes.INT, description="Lines with a higher seq."),
        ],
        responses=inline_serializer(
            name="TaskLogsPage",
            fields={
                "success": serializers.BooleanField(),
                "data": inline_serializer(
                    name="TaskLogsData",
                    fields={
                        "logs": LogLineSerializer(many=True),
                        "nextBefore": serializers.IntegerField(allow_null=True),
                    },
                ),
            },
        ),
    )
    def get(self, request: Request, task_id: UUID) -> Response:
        task = logs_task_for(request, task_id, Role.VIEWER)
        limit = int_param(request, "limit", low=1, high=1000, default=200)
        before = int_param(request, "before", low=0)
        after = int_param(request, "after", low=0)
        lines, next_before = logs.logs_page(task.pk, limit=limit or 200, before=before, after=after)
        return success({"logs": lines, "nextBefore": next_before})

    @extend_schema(operation_id="tasks_logs_clear", responses={204: None})
    def delete(self, request: Request, task_id: UUID) -> Response:
        task = logs_task_for(request, task_id, Role.ADMIN)
        logs.clear_logs(task.pk)
        return no_content()


def authorize_log_stream(raw_token: str | None, task_id: UUID) -> Task:
    """The SSE stream's check: a valid token (Bearer or ?token=) of any member; logs on."""
    from rest_framework.exceptions import NotAuthenticated

    from config.authentication import authenticate_token

    if not raw_token:
        raise NotAuthenticated()
    user, _ = authenticate_token(raw_token)
    task = Task.objects.select_related("workspace").filter(pk=task_id, deleted=False).first()
    if task is None:
        raise NotFoundError()
    require_role(user, task.workspace_id, Role.VIEWER)
    if not task.workspace.task_logs_enabled:
        raise NotFoundError("TASK_LOGS_DISABLED", "Task logs are disabled for this workspace.")
    return task


class EventStreamRenderer(BaseRenderer):
    media_type = "text/event-stream"
    format = "sse"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return json.dumps(data).encode()


class TaskLogStreamView(APIView):
    """The schema of the SSE stream. Served by tasks.consumers.LogStreamConsumer under ASGI
    (the Channels route comes first); reached only without it (WSGI, test client), where it
    answers one snapshot: `init`, then `end` if nothing runs."""

    authentication_classes = [QueryTokenAuthentication, SessionAuthentication]
    renderer_classes = [CamelCaseJSONRenderer, EventStreamRenderer]

    @extend_schema(
        operation_id="tasks_logs_stream",
        parameters=[
            OpenApiParameter("tail", OpenApiTypes.INT, description="Lines in `init`, default 200."),
            OpenApiParameter("after", OpenApiTypes.INT, description="Resume after this seq."),
            OpenApiParameter("token", OpenApiTypes.STR, description="For EventSource clients."),
            OpenApiParameter("Last-Event-ID", OpenApiTypes.INT, OpenApiParameter.HEADER),
        ],
        responses={(200, "text/event-stream"): OpenApiTypes.STR},
    )
    def get(self, request: Request, task_id: UUID) -> HttpResponse:
        from tasks.consumers import sse

        task = logs_task_for(request, task_id, Role.VIEWER)
        header = request.headers.get("Last-Event-ID")
        after_seq = _non_negative(header) if header else int_param(request, "after", low=0)
        tail = int_param(request, "tail", low=0, high=1000, default=200) or 0
        state = logs.stream_state(task.pk)
        task_state = {"workflowStatus": state["workflowStatus"], "running": state["running"]}
        if after_seq is None:
            lines = logs.log_rows(task.pk, limit=tail, newest=True) if tail else []
            body = sse(
                "init", {"logs": lines, "task": task_state}, lines[-1]["seq"] if lines else None
            )
        else:
            lines = logs.log_rows(task.pk, after=after_seq, limit=1000)
            body = sse("init", {"logs": [], "task": task_state}) + b"".join(
                sse("log", line, line["seq"]) for line in lines
            )
        if not state["running"]:
            body += sse("end", {"workflowStatus": state["workflowStatus"]})
        return HttpResponse(body, content_type="text/event-stream; charset=utf-8")


def _non_negative(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise invalid("Last-Event-ID", "Must be a non-negative integer.")
    return int(raw)
