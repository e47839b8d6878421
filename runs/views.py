"""The run actions of a task: retry, halt, its logs and their SSE stream, as a viewset
routed under /api/tasks/{id}/ (runs/urls.py). Thin: the task with the caller's role,
one service or read, the answer."""

import json
from typing import Any
from uuid import UUID

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import caller
from accounts.authentication import BearerTokenAuthentication, QueryTokenAuthentication
from accounts.models import Role
from config.envelope import enveloped, no_content, success
from config.renderers import CamelCaseJSONRenderer
from runs import services
from runs.logs import clear_logs, log_rows, logs_page, stream_state
from runs.serializers import LogLineSerializer
from runs.streams import LogsQuerySerializer, StreamQuerySerializer, logs_task_for, sse
from tasks.selectors import task_for
from tasks.serializers import RetryQuerySerializer, TaskDetailSerializer, task_detail_data


class EventStreamRenderer(BaseRenderer):
    media_type = "text/event-stream"
    format = "sse"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return json.dumps(data).encode()


class TaskRunViewSet(viewsets.ViewSet):
    lookup_url_kwarg = "task_id"
    lookup_value_converter = "uuid"
    throttle_scopes = {"retry": "runs"}

    @extend_schema(
        operation_id="tasks_retry",
        request=None,
        parameters=[RetryQuerySerializer],
        responses={202: enveloped("TaskRetried", TaskDetailSerializer())},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, task_id: UUID) -> Response:
        task = task_for(caller(request), task_id, Role.DEVELOPER)
        query = RetryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        services.retry(task, force=query.validated_data["force"], actor=caller(request))
        return success(
            task_detail_data(task_for(caller(request), task_id), caller(request)), status=202
        )

    @extend_schema(
        operation_id="tasks_halt",
        request=None,
        responses={202: enveloped("TaskHalted", TaskDetailSerializer())},
    )
    @action(detail=True, methods=["post"])
    def halt(self, request: Request, task_id: UUID) -> Response:
        task = task_for(caller(request), task_id, Role.DEVELOPER)
        services.halt(task)
        return success(
            task_detail_data(task_for(caller(request), task_id), caller(request)), status=202
        )

    @extend_schema(
        operation_id="tasks_logs_get",
        parameters=[LogsQuerySerializer],
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
    @action(detail=True, methods=["get"])
    def logs(self, request: Request, task_id: UUID) -> Response:
        task = logs_task_for(caller(request), task_id)
        query = LogsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        lines, next_before = logs_page(
            task.pk,
            limit=query.validated_data["limit"],
            before=query.validated_data.get("before"),
            after=query.validated_data.get("after"),
        )
        return success({"logs": lines, "nextBefore": next_before})

    @extend_schema(operation_id="tasks_logs_clear", responses={204: None})
    @logs.mapping.delete
    def clear_logs(self, request: Request, task_id: UUID) -> Response:
        task = logs_task_for(caller(request), task_id, Role.ADMIN)
        clear_logs(task.pk)
        return no_content()

    @extend_schema(
        operation_id="tasks_logs_stream",
        parameters=[
            StreamQuerySerializer,
            OpenApiParameter(
                "Last-Event-ID",
                {"type": "integer", "minimum": 0},
                OpenApiParameter.HEADER,
                description="The seq of the last line seen (EventSource resends it); wins "
                "over `after`.",
            ),
        ],
        responses={(200, "text/event-stream"): OpenApiTypes.STR},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="logs/stream",
        authentication_classes=[
            BearerTokenAuthentication,
            QueryTokenAuthentication,
            SessionAuthentication,
        ],
        renderer_classes=[CamelCaseJSONRenderer, EventStreamRenderer],
    )
    def stream(self, request: Request, task_id: UUID) -> HttpResponse:
        """The schema of the SSE stream. Served by runs.consumers.LogStreamConsumer under
        ASGI (its Channels route comes first); reached only without it (WSGI, the test
        client), where it answers one snapshot: `init`, then `end` if nothing runs."""
        task = logs_task_for(caller(request), task_id)
        query = StreamQuerySerializer(
            data={**request.query_params.dict(), **_last_event_id(request)}
        )
        query.is_valid(raise_exception=True)
        after, tail = query.validated_data.get("after"), query.validated_data["tail"]
        state = stream_state(task.pk)
        task_state = {"workflowStatus": state["workflowStatus"], "running": state["running"]}
        if after is None:
            lines = log_rows(task.pk, limit=tail, newest=True) if tail else []
            body = sse(
                "init", {"logs": lines, "task": task_state}, lines[-1]["seq"] if lines else None
            )
        else:
            lines = log_rows(task.pk, after=after, limit=1000)
            body = sse("init", {"logs": [], "task": task_state}) + b"".join(
                sse("log", line, line["seq"]) for line in lines
            )
        if not state["running"]:
            body += sse("end", {"workflowStatus": state["workflowStatus"]})
        return HttpResponse(body, content_type="text/event-stream; charset=utf-8")


def _last_event_id(request: Request) -> dict[str, str]:
    header = request.headers.get("Last-Event-ID")
    return {"after": header} if header else {}
