"""What the log endpoints share: their typed query parameters, who may read a task's
logs, and the Server-Sent Events wire format."""

import json
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated

from accounts.access import require_role
from accounts.authentication import authenticate_token
from accounts.models import Role, User
from config.exceptions import NotFoundError
from config.fields import TextField
from tasks.models import Task
from tasks.selectors import task_ref_for

MAX_LINES = 1000


class LogsQuerySerializer(serializers.Serializer[dict[str, Any]]):
    """GET /api/tasks/{id}/logs."""

    limit = serializers.IntegerField(min_value=1, max_value=MAX_LINES, default=200)
    before = serializers.IntegerField(min_value=0, required=False, help_text="Older lines.")
    after = serializers.IntegerField(min_value=0, required=False, help_text="Newer lines.")


class StreamQuerySerializer(serializers.Serializer[dict[str, Any]]):
    """GET /api/tasks/{id}/logs/stream; `Last-Event-ID` (a header) wins over `after`."""

    tail = serializers.IntegerField(
        min_value=0, max_value=MAX_LINES, default=200, help_text="Lines in `init`."
    )
    after = serializers.IntegerField(min_value=0, required=False, help_text="Resume after.")
    token = TextField(required=False, help_text="For EventSource clients.")


def stream_query(query: Mapping[str, Any], last_event_id: str | None) -> dict[str, Any]:
    """The stream's typed parameters (400 VALIDATION_ERROR for bad ones)."""
    data = {key: query[key] for key in ("tail", "after", "token") if query.get(key)}
    if last_event_id:
        data["after"] = last_event_id
    parsed = StreamQuerySerializer(data=data)
    parsed.is_valid(raise_exception=True)
    return dict(parsed.validated_data)


def logs_task_for(user: User, task_id: UUID, min_role: str = Role.VIEWER) -> Task:
    """The task, for a member holding `min_role`; 404 TASK_LOGS_DISABLED when its
    workspace keeps no logs."""
    task = task_ref_for(user, task_id)
    if not task.workspace.task_logs_enabled:
        raise NotFoundError("TASK_LOGS_DISABLED", "Task logs are disabled for this workspace.")
    require_role(user, task.workspace_id, min_role)
    return task


def authorize_log_stream(raw_token: str | None, task_id: UUID, session_user: Any = None) -> Task:
    """The SSE stream's check: any member, by a valid token (Bearer or ?token=) or, for
    the web console's EventSource, the Django session; logs on. A token, when given,
    wins: a bad one is 401 even with a session."""
    if raw_token:
        user, _ = authenticate_token(raw_token)
    elif session_user is not None and session_user.is_authenticated:
        # Read afresh: the stream asks again while it is open (a deactivated user, or a
        # membership removed since, must end it; a user object caches its roles).
        user = User.objects.filter(pk=session_user.pk, is_active=True).first()
        if user is None:
            raise NotAuthenticated()
    else:
        raise NotAuthenticated()
    return logs_task_for(user, task_id)


def sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
