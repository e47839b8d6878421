import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django.urls import reverse
from rest_framework import serializers

from accounts.models import USER_NAME_COLUMNS, display_name
from accounts.serializers import UserRefSerializer
from chat import selectors
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
from config.fields import EnumField, MediaTypeField, TextField
from config.representation import FastOutput, datetimes, uuid_text, writer
from tasks.models import Task
from tasks.sections import Section
from tasks.serializers import TaskGroupSerializer, TaskRefSerializer, TaskRowSerializer

# Output: the mobile clients' message shape.


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
        return download_urls(self.context.get("request"))(attachment.pk)


_NO_ID = uuid.UUID(int=0)


def download_urls(request: Any) -> Callable[[uuid.UUID], str]:
    """An attachment's download URL by its id: absolute for a request (its scheme and
    host), else the path. The route is reversed once, not once per attachment."""
    path = reverse("chat-attachment-download", kwargs={"attachment_id": _NO_ID})
    head, tail = path.split(str(_NO_ID))
    if request is not None:
        head = request.build_absolute_uri(head)
    return lambda attachment_id: f"{head}{attachment_id}{tail}"


class ContextTagSerializer(serializers.Serializer[dict[str, str]]):
    type = EnumField(choices=ContextTagType.choices)
    id = TextField(max_length=200)


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

    # What `from_values` reads: values() rows of chat.selectors.messages_of(columns=...)
    # with their `artifacts` and `attachments` rows.
    OWN_VALUES = (
        *("id", "task_id", "message", "role", "timestamp", "status", "reply_id"),
        *("context_tags", "created_by_id"),
    )
    VALUES = (
        *OWN_VALUES,
        "created_by__image",
        *(f"created_by__{column}" for column in USER_NAME_COLUMNS),
    )

    @staticmethod
    def row_of(message: ChatMessage) -> dict[str, Any]:
        """A message this process has just written, with no artifacts or attachments, as
        the row `from_values` reads."""
        author = message.created_by
        return {
            **{name: getattr(message, name) for name in MessageSerializer.OWN_VALUES},
            "created_by__image": author.image if author else None,
            **{f"created_by__{c}": getattr(author, c, None) for c in USER_NAME_COLUMNS},
            "artifacts": [],
            "attachments": [],
        }

    @staticmethod
    def from_values(
        rows: Iterable[Mapping[str, Any]], request: Any, *, urls: bool = True
    ) -> list[dict[str, Any]]:
        """What `MessageSerializer(messages, many=True, context={"request": request})`
        writes, from values() rows (VALUES) instead of model instances; without `urls`,
        LatestMessageSerializer's (attachments without their download url)."""
        when, text, url = datetimes(), uuid_text, download_urls(request)
        tags = writer(ContextTagSerializer)
        return [
            {
                "id": text(r["id"]),
                "task_id": text(r["task_id"]),
                "message": r["message"],
                "role": r["role"],
                "timestamp": when(r["timestamp"]),
                "status": r["status"],
                "reply_id": text(r["reply_id"]),
                "context_tags": None
                if r["context_tags"] is None
                else [tags.to_representation(tag) for tag in r["context_tags"]],
                "artifacts": [
                    {
                        "id": text(a["id"]),
                        "type": a["type"],
                        "content": a["content"],
                        "icon": a["icon"],
                    }
                    for a in r["artifacts"]
                ],
                "attachments": [
                    {
                        "id": text(a["id"]),
                        "filename": a["filename"],
                        "mime_type": a["mime_type"],
                        "size": a["size"],
                        "path": a["path"],
                        **({"url": url(a["id"])} if urls else {}),
                    }
                    for a in r["attachments"]
                ],
                "created_by": None
                if r["created_by_id"] is None
                else {
                    "id": text(r["created_by_id"]),
                    "name": display_name(
                        *(r[f"created_by__{column}"] for column in USER_NAME_COLUMNS)
                    ),
                    "image": r["created_by__image"] or None,
                },
            }
            for r in rows
        ]


class MessagePageSerializer(serializers.Serializer[dict[str, Any]]):
    task = TaskRefSerializer()
    messages = MessageSerializer(many=True)
    count = serializers.IntegerField(help_text="All messages of the task.")
    has_more = serializers.BooleanField(help_text="More messages lie beyond this page.")


class AttachmentRefSerializer(FastOutput, serializers.ModelSerializer[Attachment]):
    class Meta:
        model = Attachment
        fields = ["id", "filename", "mime_type", "size", "path"]


class LatestMessageSerializer(MessageSerializer):
    """A task row's `latestMessage`: the message shape, its attachments without the
    download url (chat's own GETs carry it)."""

    attachments = AttachmentRefSerializer(many=True, read_only=True)  # type: ignore[assignment]


# Input: POST /api/chat/message.


class ArtifactInSerializer(serializers.Serializer[ArtifactInput]):
    type = EnumField(choices=ArtifactType.choices)
    content = serializers.JSONField(required=False, default=dict)
    icon = TextField(max_length=100, required=False, allow_null=True, default=None)


class AttachmentInSerializer(serializers.Serializer[AttachmentInput]):
    path = TextField(max_length=500, trim_whitespace=False)
    filename = TextField(max_length=300)
    mime_type = MediaTypeField(max_length=200)
    size = serializers.IntegerField(min_value=0)


class PostMessageSerializer(serializers.Serializer[ChatMessage]):
    task_id = serializers.UUIDField()
    message = TextField(allow_blank=True, trim_whitespace=False)
    # `sourceWebsocketID` arrives underscoreized as `source_websocket_id`.
    source_websocket_id = TextField(
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
    client_message_id = TextField(max_length=200, required=False, allow_null=True)

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
    sourceWebsocketID = TextField(
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
    text = TextField(help_text="At most 32 KiB of UTF-8 (else 413).")
    task_group_id = serializers.UUIDField(required=False, allow_null=True)


class ChatStartedSerializer(serializers.Serializer[dict[str, Any]]):
    task = TaskRowSerializer()
    task_group = TaskGroupSerializer()


# Uploads.


class UploadSerializer(serializers.Serializer[dict[str, Any]]):
    workspace_id = serializers.UUIDField()
    file = serializers.FileField(allow_empty_file=True)


class StoredUploadSerializer(serializers.Serializer[StoredUpload]):
    path = TextField()
    filename = TextField()
    mime_type = TextField()
    size = serializers.IntegerField()


# The task list's `latestMessage` (includeLatestMessage=true), registered in ChatConfig.ready.
def load_latest_message_values(rows: Sequence[dict[str, Any]]) -> None:
    """Sets each values() row's `latest_message`, as LatestMessageSerializer writes it."""
    found = selectors.latest_message_rows(rows, MessageSerializer.VALUES)
    written = MessageSerializer.from_values(found.values(), None, urls=False)
    by_id = {message["id"]: message for message in written}
    for row in rows:
        message_id = row["latest_message_id"]
        row["latest_message"] = by_id.get(str(message_id)) if message_id else None


LATEST_MESSAGE_SECTION = Section(
    output=lambda: LatestMessageSerializer(read_only=True, allow_null=True),
    load=selectors.attach_latest_messages,
    annotate=selectors.with_latest_message_id,
    columns=("latest_message_id",),
    load_values=load_latest_message_values,
)
