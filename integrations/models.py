"""Inbound repository deliveries (GitHub, GitLab) and the workspace's outbound webhook
endpoints with their deliveries."""

import base64
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Workspace
from tasks.models import Repository, Task, TaskGroup


class Source(models.TextChoices):
    GITHUB = "github"
    GITLAB = "gitlab"


class Outcome(models.TextChoices):
    TASK_CREATED = "task_created", "a robot was addressed: task(s) created and queued"
    RECORDED = "recorded", "recorded on its group; no robot addressed"
    IGNORED = "ignored", "an event or action Taskdesk does not act on"


class InboundDelivery(models.Model):
    """One signed delivery from GitHub or GitLab, its payload kept for replay."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    source = models.CharField(max_length=8, choices=Source.choices)
    event = models.CharField(max_length=100, help_text="X-GitHub-Event / X-Gitlab-Event.")
    action = models.CharField(max_length=100, blank=True, help_text="What the event did.")
    delivery_id = models.CharField(
        max_length=200, help_text="X-GitHub-Delivery / X-Gitlab-Event-UUID."
    )
    received_at = models.DateTimeField(auto_now_add=True)
    signature_ok = models.BooleanField(default=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.CharField(max_length=500, blank=True)
    payload = models.JSONField(default=dict)
    group = models.ForeignKey(
        TaskGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tasks = models.ManyToManyField(Task, blank=True, related_name="+")
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )

    class Meta:
        verbose_name_plural = "inbound deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["repository", "source", "delivery_id"],
                condition=Q(replay_of__isnull=True),
                name="inbounddelivery_unique_id",
            )
        ]
        indexes = [
            models.Index(
                fields=["repository", "-received_at", "-id"], name="inbound_repo_recent_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.event} {self.delivery_id}"


class OutboundEvent(models.TextChoices):
    TASK_CREATED = "task.created"
    TASK_UPDATED = "task.updated"
    TASK_STATUS_CHANGED = "task.status_changed"
    TASK_WAITING_FOR_INPUT = "task.waiting_for_input"
    RUN_FINISHED = "run.finished"
    MESSAGE_CREATED = "message.created"
    ALERT_OPENED = "alert.opened"  # ops: a task stuck, a run silent, a robot failing


TEST_EVENT = "webhook.test"


def new_endpoint_secret() -> str:
    """Standard Webhooks' form: `whsec_` and base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=1000)
    events = models.JSONField(default=list, help_text="The OutboundEvent values it receives.")
    enabled = models.BooleanField(default=True)
    secret = models.CharField(max_length=100, default=new_endpoint_secret)
    description = models.CharField(max_length=300, blank=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="The first failure since the last success."
    )
    disabled_reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["workspace", "enabled"], name="endpoint_ws_enabled_idx")]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING"  # waits for its first or next attempt
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # out of attempts, or refused (a private address)


class WebhookDelivery(models.Model):
    """One event for one endpoint: written with the change, sent by the worker."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40)
    message_id = models.CharField(max_length=60, help_text="The `webhook-id` header.")
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first 1000 characters.")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["endpoint", "-created_at", "-id"], name="delivery_ep_recent_idx"),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="PENDING"),
                name="delivery_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint_id}"
