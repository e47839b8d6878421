"""The chat: POST /api/chat (console), POST /api/chat/message (mobile), a task's
messages, one message, attachment downloads and uploads, as DRF viewsets (routed in
chat/urls.py). Thin: parse, check access, call one service or selector, serialize."""

import uuid
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse
from djangorestframework_camel_case.parser import CamelCaseMultiPartParser
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import caller, require_role
from accounts.models import Role, Workspace
from chat import selectors, services
from chat.serializers import (
    ChatExecuteSerializer,
    ChatStartedSerializer,
    MessagePageSerializer,
    MessageSerializer,
    PostedMessageSerializer,
    PostMessageBodySerializer,
    PostMessageSerializer,
    StoredUploadSerializer,
    UploadSerializer,
)
from config import representation
from config.envelope import enveloped, success
from config.exceptions import PayloadTooLarge
from config.representation import writer
from tasks.selectors import group_for, task_for, task_ref_for
from tasks.serializers import TaskRefSerializer

MESSAGES_DEFAULT_LIMIT = 100
MESSAGES_MAX_LIMIT = 500
UPLOAD_FORM_SLACK = 64 * 1024  # multipart boundaries and the other form fields
# A message at its limits (32 KiB text, 20 artifacts of 64 KiB, 20 attachments) fits in
# well under 2 MiB of JSON; a bigger body is refused before it is parsed.
MAX_MESSAGE_BODY_BYTES = 2 * 1024 * 1024


def refuse_bodies_over(request: Request, limit: int) -> None:
    """413 before the body is read: a declared length beyond anything valid."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(message=f"The request body may hold at most {limit} bytes.")


def _uuid_or_none(data: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(data.get("task_id")))
    except (ValueError, AttributeError, TypeError):
        return None


class MessagesQuerySerializer(serializers.Serializer[dict[str, Any]]):
    before = serializers.UUIDField(required=False, help_text="Messages older than this one.")
    after = serializers.UUIDField(required=False, help_text="Messages newer than this one.")
    limit = serializers.IntegerField(
        min_value=1, max_value=MESSAGES_MAX_LIMIT, required=False, help_text="Default 100."
    )


class ChatViewSet(viewsets.ViewSet):
    """POST /api/chat and POST /api/chat/message."""

    throttle_scopes = {"create": "runs", "message": "chat"}

    @extend_schema(
        operation_id="chat_execute",
        request=ChatExecuteSerializer,
        responses={201: enveloped("ChatExecuteResponse", ChatStartedSerializer())},
        description="Creates a queued chat task (and its USER message) in a new chat "
        "group, or in the given one.",
    )
    def create(self, request: Request) -> Response:
        refuse_bodies_over(request, MAX_MESSAGE_BODY_BYTES)
        body = ChatExecuteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        target = selectors.chat_target(
            caller(request), data["repo_id"], data["robot_id"], data.get("task_group_id")
        )
        started = services.execute_chat(
            author=caller(request),
            repository=target.repository,
            robot=target.robot,
            text=data["text"],
            group=target.group,
        )
        payload = {
            "task": task_for(caller(request), started.task.pk),
            "task_group": group_for(caller(request), started.group.pk),
        }
        return success(ChatStartedSerializer(payload).data, status=201)

    @extend_schema(
        operation_id="chat_message_create",
        request=PostMessageBodySerializer,
        responses={201: PostedMessageSerializer, 200: PostedMessageSerializer},
        description="Posts a message to a task (DEVELOPER+). The same clientMessageId "
        "for the same task returns the first message with 200 and writes nothing.",
    )
    @action(detail=False, methods=["post"])
    def message(self, request: Request) -> Response:
        refuse_bodies_over(request, MAX_MESSAGE_BODY_BYTES)
        body = PostMessageSerializer(data=request.data)
        valid = body.is_valid()
        # Who may post to which task is answered before what is wrong with the body.
        task_id = body.validated_data.get("task_id") if valid else _uuid_or_none(request.data)
        if task_id is None:
            raise ValidationError(body.errors)
        task = task_ref_for(caller(request), task_id, Role.DEVELOPER)
        if not valid:
            raise ValidationError(body.errors)
        arguments = body.service_arguments()
        posted = services.post_message(task=task, author=caller(request), **arguments)
        if posted.created and not any(
            arguments[part] for part in ("artifacts", "attachments", "context_tags")
        ):
            # Written just now and all in memory: nothing to read back (the database
            # would reorder the keys of JSON parts: a message with them is read back).
            row = MessageSerializer.row_of(posted.message)
            data = MessageSerializer.from_values([row], request)[0]
        else:
            message = selectors.messages_with_details().get(pk=posted.message.pk)
            data = MessageSerializer(message, context={"request": request}).data
        return success(data, key="message", status=201 if posted.created else 200)


class TaskMessagesViewSet(viewsets.ViewSet):
    """GET /api/tasks/{id}/messages."""

    lookup_url_kwarg = "task_id"
    lookup_value_converter = "uuid"

    @extend_schema(
        operation_id="task_messages_list",
        parameters=[MessagesQuerySerializer],
        responses=enveloped("TaskMessages", MessagePageSerializer()),
        description="The task's messages, oldest first: by default the newest `limit`.",
    )
    @action(detail=True)
    def messages(self, request: Request, task_id: uuid.UUID) -> Response:
        task = task_ref_for(caller(request), task_id)
        query = MessagesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = representation.VALUES_ROWS
        page = selectors.messages_of(
            task,
            limit=query.validated_data.get("limit", MESSAGES_DEFAULT_LIMIT),
            before=query.validated_data.get("before"),
            after=query.validated_data.get("after"),
            columns=MessageSerializer.VALUES if values else None,
        )
        if values:  # MessagePageSerializer's output, the messages from values() rows
            return success(
                {
                    "task": writer(TaskRefSerializer).to_representation(task),
                    "messages": MessageSerializer.from_values(page.messages, request),
                    "count": page.count,
                    "has_more": page.has_more,
                }
            )
        data = {
            "task": task,
            "messages": page.messages,
            "count": page.count,
            "has_more": page.has_more,
        }
        return success(MessagePageSerializer(data, context={"request": request}).data)


class MessageViewSet(viewsets.ViewSet):
    """GET /api/chat/messages/{id}."""

    lookup_url_kwarg = "message_id"
    lookup_value_converter = "uuid"

    @extend_schema(
        operation_id="chat_message_get",
        responses=enveloped("ChatMessageDetail", MessageSerializer()),
    )
    def retrieve(self, request: Request, message_id: uuid.UUID) -> Response:
        message = selectors.message_for(caller(request), message_id)
        return success(MessageSerializer(message, context={"request": request}).data)


class AttachmentViewSet(viewsets.ViewSet):
    """GET /api/chat/attachments/{id}/download."""

    lookup_url_kwarg = "attachment_id"
    lookup_value_converter = "uuid"

    @extend_schema(
        operation_id="chat_attachment_download",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        description="The attachment's file, for members of the task's workspace.",
    )
    @action(detail=True)
    def download(self, request: Request, attachment_id: uuid.UUID) -> FileResponse:
        attachment = selectors.attachment_for(caller(request), attachment_id)
        workspace_id = attachment.message.task.workspace_id
        # Only this workspace's uploads are served; any other key is not ours to hand out.
        if not services.is_upload_of(attachment.path, workspace_id):
            raise NotFound()
        if not default_storage.exists(attachment.path):
            raise NotFound()
        return FileResponse(
            default_storage.open(attachment.path, "rb"),
            as_attachment=True,
            filename=attachment.filename,
            content_type=services.safe_media_type(attachment.mime_type),
        )


class UploadViewSet(viewsets.ViewSet):
    """POST /api/uploads."""

    parser_classes = [CamelCaseMultiPartParser]

    @extend_schema(
        operation_id="uploads_create",
        request={"multipart/form-data": UploadSerializer},
        responses={201: enveloped("Upload", StoredUploadSerializer())},
        description="Stores a file (DEVELOPER+ of workspaceId) for use as an attachment.",
    )
    def create(self, request: Request) -> Response:
        # What is far too big is refused unread; the file's own size is checked after.
        refuse_bodies_over(request, settings.UPLOAD_MAX_BYTES + UPLOAD_FORM_SLACK)
        body = UploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        workspace = Workspace.objects.filter(pk=body.validated_data["workspace_id"]).first()
        if workspace is None:
            raise NotFound()
        require_role(request.user, workspace.pk, Role.DEVELOPER)
        stored = services.store_upload(workspace, body.validated_data["file"])
        return success(StoredUploadSerializer(stored).data, status=201)
