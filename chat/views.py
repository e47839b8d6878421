import uuid
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import caller, require_role
from accounts.models import Role, Workspace
from accounts.views import enveloped
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
from config.envelope import success
from config.exceptions import PayloadTooLarge, invalid
from config.pagination import parse_page_request

MESSAGES_DEFAULT_LIMIT = 100
MESSAGES_MAX_LIMIT = 500
UPLOAD_FORM_SLACK = 64 * 1024  # multipart boundaries and the other form fields
# A message at its limits (32 KiB text, 20 artifacts of 64 KiB, 20 attachments) fits in
# well under 2 MiB of JSON; a bigger body is refused before it is parsed.
MAX_MESSAGE_BODY_BYTES = 2 * 1024 * 1024


class PostMessageView(APIView):
    @extend_schema(
        operation_id="chat_message_create",
        request=PostMessageBodySerializer,
        responses={201: PostedMessageSerializer, 200: PostedMessageSerializer},
        description="Posts a message to a task (DEVELOPER+). The same clientMessageId "
        "for the same task returns the first message with 200 and writes nothing.",
    )
    def post(self, request: Request) -> Response:
        refuse_bodies_over(request, MAX_MESSAGE_BODY_BYTES)
        body = PostMessageSerializer(data=request.data)
        valid = body.is_valid()
        # Who may post to which task is answered before what is wrong with the body.
        task_id = body.validated_data.get("task_id") if valid else _uuid_or_none(request.data)
        if task_id is None:
            raise ValidationError(body.errors)
        task = selectors.task_for(request.user, task_id, Role.DEVELOPER)
        if not valid:
            raise ValidationError(body.errors)
        posted = services.post_message(
            task=task, author=caller(request), **body.service_arguments()
        )
        message = selectors.messages_with_details().get(pk=posted.message.pk)
        data = MessageSerializer(message, context={"request": request}).data
        return success(data, key="message", status=201 if posted.created else 200)


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


class TaskMessagesView(APIView):
    @extend_schema(
        operation_id="task_messages_list",
        parameters=[
            OpenApiParameter("limit", int, description="1..500, default 100."),
            OpenApiParameter("before", uuid.UUID, description="Messages older than this one."),
            OpenApiParameter("after", uuid.UUID, description="Messages newer than this one."),
        ],
        responses=enveloped("TaskMessages", MessagePageSerializer()),
        description="The task's messages, oldest first: by default the newest `limit`.",
    )
    def get(self, request: Request, task_id: uuid.UUID) -> Response:
        task = selectors.task_for(request.user, task_id)
        params = request.query_params
        limit = parse_page_request(
            params, default_limit=MESSAGES_DEFAULT_LIMIT, max_limit=MESSAGES_MAX_LIMIT
        ).limit
        page = selectors.messages_of(
            task,
            limit=limit,
            before=_uuid_param(params, "before"),
            after=_uuid_param(params, "after"),
        )
        data = {
            "task": task,
            "messages": page.messages,
            "count": page.count,
            "has_more": page.has_more,
        }
        return success(MessagePageSerializer(data, context={"request": request}).data)


def _uuid_param(params: Any, name: str) -> uuid.UUID | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise invalid(name, "A message id is required.") from None


class MessageDetailView(APIView):
    @extend_schema(
        operation_id="chat_message_get",
        responses=enveloped("ChatMessageDetail", MessageSerializer()),
    )
    def get(self, request: Request, message_id: uuid.UUID) -> Response:
        message = selectors.message_for(request.user, message_id)
        return success(MessageSerializer(message, context={"request": request}).data)


class ChatExecuteView(APIView):
    @extend_schema(
        operation_id="chat_execute",
        request=ChatExecuteSerializer,
        responses={201: enveloped("ChatExecuteResponse", ChatStartedSerializer())},
        description="Creates a queued chat task (and its USER message) in a new chat "
        "group, or in the given one.",
    )
    def post(self, request: Request) -> Response:
        refuse_bodies_over(request, MAX_MESSAGE_BODY_BYTES)
        body = ChatExecuteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        target = selectors.chat_target(
            request.user, data["repo_id"], data["robot_id"], data.get("task_group_id")
        )
        started = services.execute_chat(
            author=caller(request),
            repository=target.repository,
            robot=target.robot,
            text=data["text"],
            group=target.group,
        )
        payload = {"task": started.task, "task_group": started.group}
        return success(ChatStartedSerializer(payload).data, status=201)


class UploadView(APIView):
    @extend_schema(
        operation_id="uploads_create",
        request={"multipart/form-data": UploadSerializer},
        responses={201: enveloped("Upload", StoredUploadSerializer())},
        description="Stores a file (DEVELOPER+ of workspaceId) for use as an attachment.",
    )
    def post(self, request: Request) -> Response:
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


class AttachmentDownloadView(APIView):
    @extend_schema(
        operation_id="chat_attachment_download",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        description="The attachment's file, for members of the task's workspace.",
    )
    def get(self, request: Request, attachment_id: uuid.UUID) -> FileResponse:
        attachment = selectors.attachment_for(request.user, attachment_id)
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
            content_type=attachment.mime_type or "application/octet-stream",
        )
