"""Reads of the chat, scoped to the caller's workspaces (404 outside them)."""

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from rest_framework.exceptions import NotFound

from accounts.access import require_role
from accounts.models import Role
from chat.models import Artifact, Attachment, ChatMessage
from config.exceptions import Conflict, invalid
from tasks.models import GroupKind, Repository, Robot, Task, TaskGroup


def task_for(user: Any, task_id: uuid.UUID, role: str = Role.VIEWER) -> Task:
    """A live task the user may act on with `role`; 404 when absent or not theirs."""
    task = Task.objects.select_related("workspace").filter(pk=task_id, deleted=False).first()
    if task is None:
        raise NotFound()
    require_role(user, task.workspace_id, role)
    return task


def messages_with_details() -> QuerySet[ChatMessage]:
    """Messages with everything the message shape shows, in a fixed number of queries."""
    return ChatMessage.objects.select_related("created_by").prefetch_related(
        Prefetch("artifacts", queryset=Artifact.objects.order_by("position", "id")),
        Prefetch("attachments", queryset=Attachment.objects.order_by("position", "id")),
    )


def message_for(user: Any, message_id: uuid.UUID) -> ChatMessage:
    message = (
        messages_with_details()
        .select_related("task")
        .filter(pk=message_id, task__deleted=False)
        .first()
    )
    if message is None:
        raise NotFound()
    require_role(user, message.task.workspace_id)
    return message


def attachment_for(user: Any, attachment_id: uuid.UUID) -> Attachment:
    attachment = (
        Attachment.objects.select_related("message__task")
        .filter(pk=attachment_id, message__task__deleted=False)
        .first()
    )
    if attachment is None:
        raise NotFound()
    require_role(user, attachment.message.task.workspace_id)
    return attachment


@dataclass(frozen=True)
class MessagePage:
    messages: list[ChatMessage]
    count: int
    has_more: bool


def messages_of(
    task: Task,
    *,
    limit: int,
    before: uuid.UUID | None = None,
    after: uuid.UUID | None = None,
) -> MessagePage:
    """A page of the task's thread, oldest first.

    Without `before`/`after`: the newest `limit` messages. `before`: the `limit`
    messages just older than that one (scrolling back); `after`: the `limit`
    messages just newer (catching up). `has_more`: more lie beyond, in that direction.
    """
    thread = ChatMessage.objects.filter(task=task)
    count = thread.count()
    rows = messages_with_details().filter(task=task)
    if after is not None:
        anchor = _anchor(task, after, "after")
        page = list(
            rows.filter(timestamp__gte=anchor.timestamp)
            .filter(
                Q(timestamp__gt=anchor.timestamp) | Q(timestamp=anchor.timestamp, id__gt=anchor.pk)
            )
            .order_by("timestamp", "id")[: limit + 1]
        )
        has_more = len(page) > limit
        return MessagePage(page[:limit], count, has_more)
    if before is not None:
        anchor = _anchor(task, before, "before")
        # The plain range first lets the database walk the (task, timestamp, id) index
        # and stop after `limit` rows; the OR only settles ties on the anchor's timestamp.
        rows = rows.filter(timestamp__lte=anchor.timestamp).filter(
            Q(timestamp__lt=anchor.timestamp) | Q(timestamp=anchor.timestamp, id__lt=anchor.pk)
        )
    page = list(rows.order_by("-timestamp", "-id")[: limit + 1])
    has_more = len(page) > limit
    return MessagePage(list(reversed(page[:limit])), count, has_more)


def _anchor(task: Task, message_id: uuid.UUID, name: str) -> ChatMessage:
    anchor = ChatMessage.objects.filter(task=task, pk=message_id).only("timestamp").first()
    if anchor is None:
        raise invalid(name, "No such message in this task.")
    return anchor


@dataclass(frozen=True)
class ChatTarget:
    repository: Repository
    robot: Robot
    group: TaskGroup | None


def chat_target(
    user: Any, repo_id: uuid.UUID, robot_id: uuid.UUID, group_id: uuid.UUID | None
) -> ChatTarget:
    """Where POST /api/chat starts work: the repository (404 unless the user is a
    DEVELOPER+ member of its workspace), an enabled robot and a chat group of that
    workspace (400 otherwise); 409 TASK_ARCHIVED for an archived repository or group."""
    repository = Repository.objects.select_related("workspace").filter(pk=repo_id).first()
    if repository is None:
        raise NotFound()
    require_role(user, repository.workspace_id, Role.DEVELOPER)
    robot = Robot.objects.filter(pk=robot_id, workspace=repository.workspace_id).first()
    if robot is None:
        raise invalid("robot_id", "No such robot in this repository's workspace.")
    if not robot.enabled:
        raise invalid("robot_id", "This robot is disabled.")
    group = None
    if group_id is not None:
        group = TaskGroup.objects.filter(
            pk=group_id, workspace=repository.workspace_id, kind=GroupKind.CHAT
        ).first()
        if group is None:
            raise invalid("task_group_id", "No such chat group in this workspace.")
    # Archives are view-only: no new work starts in them.
    if repository.archived or (group is not None and group.archived):
        raise Conflict("TASK_ARCHIVED", "The repository or chat group is archived.")
    return ChatTarget(repository, robot, group)
