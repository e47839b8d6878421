import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tasks.models import Task


class ChatRole(models.TextChoices):
    USER = "USER"
    ASSISTANT = "ASSISTANT"


class ChatStatus(models.TextChoices):
    SENDING = "SENDING"
    SENT = "SENT"
    ERROR = "ERROR"


class ArtifactType(models.TextChoices):
    FORM = "FORM"
    CODE = "CODE"
    BROWSER = "BROWSER"
    IDE = "IDE"
    MEDIA = "MEDIA"
    STREAM = "STREAM"
    LONGFORM = "LONGFORM"
    BUG_REPORT = "BUG_REPORT"
    GRAPH = "GRAPH"
    WORKFLOW = "WORKFLOW"
    PULL_REQUEST = "PULL_REQUEST"
    DIFF = "DIFF"
    PUBLISH_WORKFLOW = "PUBLISH_WORKFLOW"
    BOUNTY = "BOUNTY"


class ContextTagType(models.TextChoices):
    PRODUCT_BRIEF = "PRODUCT_BRIEF"
    FEATURE_BRIEF = "FEATURE_BRIEF"
    SCHEMATIC = "SCHEMATIC"


class ChatMessage(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="chat_messages")
    message = models.TextField(blank=True)
    role = models.CharField(max_length=16, choices=ChatRole.choices, default=ChatRole.USER)
    status = models.CharField(max_length=16, choices=ChatStatus.choices, default=ChatStatus.SENT)
    timestamp = models.DateTimeField(default=timezone.now)
    reply = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    context_tags = models.JSONField(default=list, blank=True)
    source_websocket_id = models.CharField(max_length=100, blank=True)
    client_message_id = models.CharField(max_length=200, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chat_messages",
    )

    class Meta:
        ordering = ["timestamp", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "client_message_id"],
                condition=Q(client_message_id__isnull=False),
                name="chatmessage_unique_client_id",
            )
        ]
        indexes = [
            # The messages of a task, in order; and its newest message of a role.
            models.Index(fields=["task", "timestamp", "id"], name="chatmessage_task_order_idx"),
            models.Index(
                fields=["task", "role", "-timestamp", "-id"], name="chatmessage_task_role_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.message[:50]}"


class Artifact(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="artifacts")
    type = models.CharField(max_length=20, choices=ArtifactType.choices)
    content = models.JSONField(default=dict, blank=True)
    icon = models.CharField(max_length=100, null=True, blank=True)
    answered_at = models.DateTimeField(
        null=True, blank=True, help_text="For a FORM: when a USER reply answered it."
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.type} on {self.message_id}"


class Attachment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="attachments")
    path = models.CharField(max_length=500, help_text="A relative key in the file storage.")
    filename = models.CharField(max_length=300)
    mime_type = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.filename
