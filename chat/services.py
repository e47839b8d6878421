"""Writes of the chat: posting a message (USER or ASSISTANT), starting a chat task, uploads.

`post_message` is the one way a message enters a task's thread. It validates
everything before it writes, writes the message, its artifacts and attachments and
the task's counters in one transaction, and queues the events of the change with
`realtime.events.publish` (they leave only after commit).
"""

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename
from rest_framework.exceptions import ValidationError

from accounts.models import User, Workspace
from chat.models import (
    Artifact,
    ArtifactType,
    Attachment,
    ChatMessage,
    ChatRole,
    ChatStatus,
    ContextTagType,
)
from config import fused
from config.exceptions import PayloadTooLarge, invalid
from config.fields import MEDIA_TYPE
from realtime.events import publish, task_channel, together
from tasks import counters, locks
from tasks.events import announce
from tasks.models import (
    EventType,
    GroupKind,
    Repository,
    Robot,
    SourceType,
    Task,
    TaskGroup,
)
from tasks.signals import run_requested

MAX_MESSAGE_BYTES = 32 * 1024
MAX_ARTIFACTS = 20
MAX_ARTIFACT_BYTES = 64 * 1024
MAX_ATTACHMENTS = 20
MAX_CONTEXT_TAGS = 50
UPLOADS_PREFIX = "uploads"
TITLE_LENGTH = 100

# `http:`, `s3:`, `file:`, `c:` ...: a key never names its own scheme or drive.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


@dataclass(frozen=True)
class ArtifactInput:
    type: str
    content: Any = field(default_factory=dict)
    icon: str | None = None


@dataclass(frozen=True)
class AttachmentInput:
    path: str
    filename: str
    mime_type: str
    size: int


@dataclass(frozen=True)
class PostedMessage:
    message: ChatMessage
    created: bool  # False: the clientMessageId was seen before; nothing was written


def post_message(
    *,
    task: Task,
    message: str,
    role: str = ChatRole.USER,
    author: User | None = None,
    artifacts: Sequence[ArtifactInput] = (),
    attachments: Sequence[AttachmentInput] = (),
    context_tags: Sequence[Mapping[str, Any]] = (),
    reply_id: uuid.UUID | None = None,
    client_message_id: str | None = None,
    source_websocket_id: str = "",
    status: str = ChatStatus.SENT,
    ask_robot: bool = True,
    savepoint: bool = True,
    locked: Task | None = None,
) -> PostedMessage:
    """Adds a message to the task's thread.

    A USER message asks the task's robot to answer (the `run_requested` hook: the runs
    app queues a run, never refusing a busy task) unless `ask_robot` is False; a USER reply to a
    FORM answers it. An ASSISTANT message with a FORM makes the task wait for input.
    The same `client_message_id` again returns the first message and writes nothing.
    Inside a caller's transaction the message has a savepoint of its own, unless
    `savepoint` is False: for a caller whose transaction ends with any error (a run's
    answer), two round trips fewer. `locked`: the task as the caller's transaction locked
    it (tasks.locks), for a caller that holds its lock already (a run's end): no second
    read of it. The task's new columns (its message count...) go with the other changes
    of its row in the transaction's fused block (config.fused: the move of the run the
    message asks for, a run's end): one UPDATE of the row.
    """
    _validate(task, message, role, status, artifacts, attachments, context_tags)
    # The message's row, the task's (one UPDATE with the move of the run it asks for)
    # and the counters go out with the events: one statement on PostgreSQL (config.fused).
    with transaction.atomic(savepoint=savepoint), together(), fused.fused():
        # One writer per task at a time keeps the counters and the FORM state exact,
        # and makes a repeated clientMessageId wait for the first one's commit.
        locked = locked or locks.lock(task.pk)
        if client_message_id:
            earlier = _earlier(task, client_message_id)
            if earlier is not None:
                return PostedMessage(earlier, created=False)
        replied = _reply_target(locked, reply_id)
        now = timezone.now()
        chat_message = ChatMessage(
            task=locked,
            message=message,
            role=role,
            status=status,
            timestamp=now,
            reply=replied,
            context_tags=[dict(tag) for tag in context_tags],
            source_websocket_id=source_websocket_id,
            client_message_id=client_message_id or None,
            created_by=author,
        )
        if not client_message_id:
            fused.insert(chat_message)
        else:
            try:
                with transaction.atomic():
                    chat_message.save(force_insert=True)
            except IntegrityError:
                # Only where rows are not locked: a concurrent twin committed first.
                earlier = _earlier(task, client_message_id)
                if earlier is None:
                    raise
                return PostedMessage(earlier, created=False)

        Artifact.objects.bulk_create(
            Artifact(message=chat_message, type=a.type, content=a.content, icon=a.icon, position=i)
            for i, a in enumerate(artifacts)
        )
        Attachment.objects.bulk_create(
            Attachment(
                message=chat_message,
                path=a.path,
                filename=a.filename,
                mime_type=a.mime_type,
                size=a.size,
                position=i,
            )
            for i, a in enumerate(attachments)
        )
        _update_task(locked, chat_message, artifacts, replied, now)

        # The message's events, and its run's: one statement.
        publish(
            task_channel(locked.pk),
            "new-message",
            str(chat_message.pk),
            exclude_socket_id=source_websocket_id or None,
        )
        workflow_status = locked.workflow_status
        if role == ChatRole.USER and ask_robot:
            run_requested.send(sender=Task, task=locked, trigger="message", actor=author)
        if locked.workflow_status == workflow_status:  # else the hook's move announced it
            announce(locked, "task-updated")

    task.message_count = locked.message_count
    task.awaiting_input = locked.awaiting_input
    task.workflow_status = locked.workflow_status
    task.updated_at = locked.updated_at
    return PostedMessage(chat_message, created=True)


def post_assistant_message(
    task: Task,
    message: str,
    *,
    artifacts: Sequence[ArtifactInput] = (),
    attachments: Sequence[AttachmentInput] = (),
    status: str = ChatStatus.SENT,
    savepoint: bool = True,
    locked: Task | None = None,
) -> ChatMessage:
    """What runners call to answer: an ASSISTANT message (a FORM artifact asks a question)."""
    return post_message(
        task=task,
        message=message,
        role=ChatRole.ASSISTANT,
        artifacts=artifacts,
        attachments=attachments,
        status=status,
        savepoint=savepoint,
        locked=locked,
    ).message


def _earlier(task: Task, client_message_id: str) -> ChatMessage | None:
    return ChatMessage.objects.filter(task=task, client_message_id=client_message_id).first()


def _reply_target(task: Task, reply_id: uuid.UUID | None) -> ChatMessage | None:
    if reply_id is None:
        return None
    replied = ChatMessage.objects.filter(task=task, pk=reply_id).first()
    if replied is None:
        raise invalid("reply_id", "No such message in this task.")
    return replied


def _update_task(
    task: Task,
    chat_message: ChatMessage,
    artifacts: Sequence[ArtifactInput],
    replied: ChatMessage | None,
    now: Any,
) -> None:
    """The locked task's counters and FORM state, written and set on `task` (its lock
    makes them exact without reading them back)."""
    changes: dict[str, Any] = {"message_count": task.message_count + 1, "updated_at": now}
    if chat_message.role == ChatRole.ASSISTANT:
        # The newest ASSISTANT message decides whether the task waits for input.
        changes["awaiting_input"] = any(a.type == ArtifactType.FORM for a in artifacts)
    elif replied is not None:
        answered = Artifact.objects.filter(
            message=replied, type=ArtifactType.FORM, answered_at__isnull=True
        ).update(answered_at=now)
        if answered:
            changes["awaiting_input"] = _newest_form_unanswered(task)
    before = counters.fact_of(task)
    locks.update_locked(task, changes)
    if task.group_id:
        TaskGroup.objects.filter(pk=task.group_id).update(updated_at=now)
    for name, value in changes.items():
        setattr(task, name, value)
    counters.changed(task, before)  # awaiting_input decides "waiting for input"


def _newest_form_unanswered(task: Task) -> bool:
    newest = (
        ChatMessage.objects.filter(task=task, role=ChatRole.ASSISTANT)
        .order_by("-timestamp", "-id")
        .values("pk")[:1]
    )
    return Artifact.objects.filter(
        message__in=newest, type=ArtifactType.FORM, answered_at__isnull=True
    ).exists()


# Validation: everything is checked before anything is written.


def _validate(
    task: Task,
    message: str,
    role: str,
    status: str,
    artifacts: Sequence[ArtifactInput],
    attachments: Sequence[AttachmentInput],
    context_tags: Sequence[Mapping[str, Any]],
) -> None:
    if len(message.encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise PayloadTooLarge(
            message=f"A message may hold at most {MAX_MESSAGE_BYTES} bytes of UTF-8."
        )
    _choice("role", role, ChatRole.values)
    _choice("status", status, ChatStatus.values)
    if len(artifacts) > MAX_ARTIFACTS:
        raise invalid("artifacts", f"At most {MAX_ARTIFACTS} artifacts per message.")
    if len(attachments) > MAX_ATTACHMENTS:
        raise invalid("attachments", f"At most {MAX_ATTACHMENTS} attachments per message.")
    if len(context_tags) > MAX_CONTEXT_TAGS:
        raise invalid("context_tags", f"At most {MAX_CONTEXT_TAGS} context tags per message.")
    for tag in context_tags:
        _choice("context_tags", str(tag.get("type")), ContextTagType.values)
    for artifact in artifacts:
        _choice("artifacts", artifact.type, ArtifactType.values)
        size = len(json.dumps(artifact.content, separators=(",", ":")).encode("utf-8"))
        if size > MAX_ARTIFACT_BYTES:
            raise invalid(
                "artifacts", f"An artifact's content may hold at most {MAX_ARTIFACT_BYTES} bytes."
            )
    if not message.strip() and not artifacts and not attachments:
        raise invalid("message", "A message needs text, artifacts or attachments.")
    for attachment in attachments:
        check_attachment_path(attachment.path, task.workspace_id)


def _choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise invalid(name, f'"{value}" is not one of {", ".join(allowed)}.')


def check_attachment_path(path: str, workspace_id: uuid.UUID) -> None:
    """A relative storage key; an upload's key must be of this workspace and exist."""
    problem = _path_problem(path)
    if problem is None and _is_upload(path):
        if not path.startswith(f"{upload_prefix(workspace_id)}/"):
            problem = "This upload belongs to another workspace."
        elif not default_storage.exists(path):
            problem = "No such upload."
    if problem is not None:
        raise ValidationError({"attachments": [f"{problem} ({path[:100]!r})"]})


def _path_problem(path: str) -> str | None:
    if not path or len(path) > 500:
        return "A path is 1 to 500 characters."
    if path.startswith("/") or "\\" in path or _SCHEME.match(path):
        return "A path is a relative storage key, without scheme, drive or backslash."
    if any(not ch.isprintable() for ch in path):
        return "A path holds no control characters."
    if any(part in ("..", ".", "") for part in path.split("/")):
        return "A path has no '..', '.' or empty segments."
    return None


def _is_upload(path: str) -> bool:
    return PurePosixPath(path).parts[0] == UPLOADS_PREFIX


def upload_prefix(workspace_id: uuid.UUID) -> str:
    return f"{UPLOADS_PREFIX}/{workspace_id}"


def is_upload_of(path: str, workspace_id: uuid.UUID) -> bool:
    return _path_problem(path) is None and path.startswith(f"{upload_prefix(workspace_id)}/")


# Console chat: a new chat task in a (new or given) chat group.


@dataclass(frozen=True)
class ChatStarted:
    task: Task
    group: TaskGroup


def execute_chat(
    *,
    author: User,
    repository: Repository,
    robot: Robot,
    text: str,
    group: TaskGroup | None = None,
) -> ChatStarted:
    """POST /api/chat: the USER message and a new queued task (eventType chat) in a chat group."""
    title = title_from(text)
    with transaction.atomic():
        if group is None:
            group = TaskGroup.objects.create(
                workspace=repository.workspace,
                kind=GroupKind.CHAT,
                title=title,
                repository=repository,
                robot=robot,
            )
        task = Task.objects.create(
            workspace=repository.workspace,
            title=title,
            prompt=text,
            event_type=EventType.CHAT,
            source_type=SourceType.USER,
            repository=repository,
            robot=robot,
            group=group,
            created_by=author,
        )
        counters.created(task)
        announce(task, "task-created")
        # A fresh task has no run: its first USER message queues one.
        post_message(task=task, message=text, author=author)
    group.refresh_from_db()
    return ChatStarted(task=task, group=group)


def title_from(text: str) -> str:
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    title = " ".join(first_line.split())
    if len(title) > TITLE_LENGTH:
        title = title[: TITLE_LENGTH - 1].rstrip() + "…"
    return title or "Chat"


# Uploads.


@dataclass(frozen=True)
class StoredUpload:
    path: str
    filename: str
    mime_type: str
    size: int


def store_upload(workspace: Workspace, upload: UploadedFile) -> StoredUpload:
    """Saves the file under `uploads/<workspace>/<uuid>/<safe name>` in the default storage."""
    size = upload.size or 0
    if size > settings.UPLOAD_MAX_BYTES:
        raise PayloadTooLarge(message=f"A file may hold at most {settings.UPLOAD_MAX_BYTES} bytes.")
    filename = _safe_filename(upload.name or "")
    key = f"{upload_prefix(workspace.pk)}/{uuid.uuid4().hex}/{filename}"
    stored = default_storage.save(key, upload)
    return StoredUpload(
        path=stored, filename=filename, mime_type=safe_media_type(upload.content_type), size=size
    )


def safe_media_type(value: str | None) -> str:
    """The media type to store and to send back as Content-Type: the given one when it is
    well formed, else application/octet-stream."""
    if value and len(value) <= 200 and MEDIA_TYPE.match(value):
        return value
    return "application/octet-stream"


def _safe_filename(name: str) -> str:
    base = PurePosixPath(name.replace("\\", "/")).name
    try:
        safe = get_valid_filename(base)
    except SuspiciousFileOperation:  # names like ".." or "."
        safe = ""
    return safe[:200] or "file"
