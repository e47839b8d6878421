from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import UserRefSerializer
from chat.models import (
    Artifact,
    ArtifactType,
    Attachment,
    ChatMessage,
    ContextTagType,
)
from chat.services import (
    MAX_ARTIFACTS,
    MAX_ATTACHMENTS,
    MAX_CONTEXT_TAGS,
    ArtifactInput,
    AttachmentInput,
    StoredUpload,
)
from config.representation import FastOutput
from tasks.models import Repository, Robot, Task, TaskGroup


class EnumField(serializers.ChoiceField):
    """A choice whose error lists the allowed values, as the contract asks."""

    def to_internal_value(self, data: Any) -> Any:
        if str(data) not in self.choice_strings_to_values:
            allowed = ", ".join(self.choice_strings_to_values)
            raise serializers.ValidationError(f'"{data}" is not one of: {allowed}.')
        return super().to_internal_value(data)


# Output: the mobile seed's message shape.


class ArtifactSerializer(FastOutput, serializers.ModelSerializer[Artifact]):
    content = serializers.JSONField()

    class Meta:
        model = Artifact
        fields = ["id", "type", "content", "icon"]


class AttachmentSerializer(FastOutput, serializers.ModelSerializer[Attachment]):
    url = serializers.SerializerMethodField(help_text="Downloads the file (members only).")

    class Meta:
        model = Attachment
        fields = ["id", "filename", "mime_type", "size", "path", "url"]

    def get_url(self, attachment: Attachment) -> str:
        url = reverse("chat-attachment-download", kwargs={"attachment_id": attachment.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url


class ContextTagSerializer(serializers.Serializer[dict[str, str]]):
    type = EnumField(choices=ContextTagType.choices)
    id = serializers.CharField(max_length=200)


class MessageSerializer(FastOutput, serializers.ModelSerializer[ChatMessage]):
    task_id = serializers.UUIDField(read_only=True)
    reply_id = serializers.UUIDField(read_only=True, allow_null=True)
    context_tags = ContextTagSerializer(many=True, read_only=True)
    artifacts = ArtifactSerializer(many=True, read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    created_by = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ChatMessage
        fields = [
            "id",
            "task_id",
            "message",
            "role",
            "timestamp",
            "status",
            "reply_id",
            "context_tags",
            "artifacts",
            "attachments",
            "created_by",
        ]


class MessageTaskSerializer(FastOutput, serializers.ModelSerializer[Task]):
    workspace_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Task
        fields = ["id", "title", "workspace_id", "workflow_status", "mode", "pod_id"]


class MessagePageSerializer(serializers.Serializer[dict[str, Any]]):
    task = MessageTaskSerializer()
    messages = MessageSerializer(many=True)
    count = serializers.IntegerField(help_text="All messages of the task.")
    has_more = serializers.BooleanField(help_text="More messages lie beyond this page.")


# Input: POST /api/chat/message.


class ArtifactInSerializer(serializers.Serializer[ArtifactInput]):
    type = EnumField(choices=ArtifactType.choices)
    content = serializers.JSONField(required=False, default=dict)
    icon = serializers.CharField(max_length=100, required=False, allow_null=True, default=None)


class AttachmentInSerializer(serializers.Serializer[AttachmentInput]):
    path = serializers.CharField(max_length=500, trim_whitespace=False)
    filename = serializers.CharField(max_length=300)
    mime_type = serializers.CharField(max_length=200)
    size = serializers.IntegerField(min_value=0)


class PostMessageSerializer(serializers.Serializer[ChatMessage]):
    task_id = serializers.UUIDField()
    message = serializers.CharField(allow_blank=True, trim_whitespace=False)
    # `sourceWebsocketID` arrives underscoreized as `source_websocket_id`.
    source_websocket_id = serializers.CharField(
        max_length=100, required=False, allow_blank=True, allow_null=True
    )
    context_tags = serializers.ListField(
        child=ContextTagSerializer(), required=False, max_length=MAX_CONTEXT_TAGS
    )
    artifacts = serializers.ListField(
        child=ArtifactInSerializer(), required=False, max_length=MAX_ARTIFACTS
    )
    attachments = serializers.ListField(
        child=AttachmentInSerializer(), required=False, max_length=MAX_ATTACHMENTS
    )
    reply_id = serializers.UUIDField(required=False, allow_null=True)
    client_message_id = serializers.CharField(max_length=200, required=False, allow_null=True)

    def service_arguments(self) -> dict[str, Any]:
        data = self.validated_data
        return {
            "message": data["message"],
            "source_websocket_id": data.get("source_websocket_id") or "",
            "context_tags": data.get("context_tags", []),
            "artifacts": [ArtifactInput(**a) for a in data.get("artifacts", [])],
            "attachments": [AttachmentInput(**a) for a in data.get("attachments", [])],
            "reply_id": data.get("reply_id"),
            "client_message_id": data.get("client_message_id") or None,
        }


class PostMessageBodySerializer(PostMessageSerializer):
    """The schema of the body as clients send it: `sourceWebsocketID` (camelize cannot
    spell it, and the parser turns it into `source_websocket_id` on the way in)."""

    source_websocket_id = None  # type: ignore[assignment]
    sourceWebsocketID = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="The sender's Pusher socket id, left out of the new-message broadcast.",
    )


class PostedMessageSerializer(serializers.Serializer[dict[str, Any]]):
    success = serializers.BooleanField()
    message = MessageSerializer()


# POST /api/chat (console).


class ChatExecuteSerializer(serializers.Serializer[Task]):
    repo_id = serializers.UUIDField()
    robot_id = serializers.UUIDField()
    text = serializers.CharField(help_text="At most 32 KiB of UTF-8 (else 413).")
    task_group_id = serializers.UUIDField(required=False, allow_null=True)


class RefSerializer(serializers.Serializer[Repository | Robot]):
    id = serializers.UUIDField()
    name = serializers.CharField()


class ChatTaskSerializer(FastOutput, serializers.ModelSerializer[Task]):
    """The task POST /api/chat created; the tasks app's row serializer is the full one."""

    workspace_id = serializers.UUIDField(read_only=True)
    group_id = serializers.UUIDField(read_only=True, allow_null=True)
    repository = RefSerializer(read_only=True, allow_null=True)
    robot = RefSerializer(read_only=True, allow_null=True)
    _count = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = [
            "id",
            "title",
            "workspace_id",
            "status",
            "priority",
            "workflow_status",
            "source_type",
            "event_type",
            "mode",
            "group_id",
            "repository",
            "robot",
            "created_at",
            "updated_at",
            "_count",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get__count(self, task: Task) -> dict[str, int]:
        return {"chatMessages": task.message_count}


class ChatGroupSerializer(FastOutput, serializers.ModelSerializer[TaskGroup]):
    repository = RefSerializer(read_only=True, allow_null=True)
    robot = RefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = TaskGroup
        fields = [
            "id",
            "kind",
            "binding_key",
            "title",
            "repository",
            "robot",
            "archived",
            "created_at",
            "updated_at",
        ]


class ChatStartedSerializer(serializers.Serializer[dict[str, Any]]):
    task = ChatTaskSerializer()
    task_group = ChatGroupSerializer()


# Uploads.


class UploadSerializer(serializers.Serializer[dict[str, Any]]):
    workspace_id = serializers.UUIDField()
    file = serializers.FileField(allow_empty_file=True)


class StoredUploadSerializer(serializers.Serializer[StoredUpload]):
    path = serializers.CharField()
    filename = serializers.CharField()
    mime_type = serializers.CharField()
    size = serializers.IntegerField()
