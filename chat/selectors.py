"""Reads of the chat, scoped to the caller's workspaces (404 outside them)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery, UUIDField
from rest_framework.exceptions import NotFound

from accounts.access import require_role
from accounts.models import Role, User
from chat.models import Artifact, Attachment, ChatMessage
from config.apitext import as_text
from config.compiled import CompiledQuery, Slot, Slots
from config.exceptions import Conflict, invalid
from tasks.models import GroupKind, Repository, Robot, Task, TaskGroup


def messages_with_details() -> QuerySet[ChatMessage]:
    """Messages with everything the message shape shows, in a fixed number of queries."""
    return ChatMessage.objects.select_related("created_by").prefetch_related(
        Prefetch("artifacts", queryset=Artifact.objects.order_by("position", "id")),
        Prefetch("attachments", queryset=Attachment.objects.order_by("position", "id")),
    )


def with_latest_message_id(queryset: QuerySet[Task]) -> QuerySet[Task]:
    """Task rows annotated with the id of their newest message (the list's row section)."""
    newest = ChatMessage.objects.filter(task=OuterRef("pk")).order_by("-timestamp", "-id")
    return queryset.annotate(latest_message_id=Subquery(newest.values("id")[:1]))


def attach_latest_messages(rows: Sequence[Task]) -> None:
    """Sets `row.latest_message` for a page of annotated rows: one fetch (plus its two
    prefetches)."""
    wanted = {row.pk: getattr(row, "latest_message_id", None) for row in rows}
    ids = [message_id for message_id in wanted.values() if message_id]
    messages = {message.id: message for message in messages_with_details().filter(id__in=ids)}
    for row in rows:
        message_id = wanted[row.pk]
        row.latest_message = messages.get(message_id) if message_id else None  # type: ignore[attr-defined]


def latest_message_rows(
    rows: Sequence[dict[str, Any]], columns: Sequence[str]
) -> dict[uuid.UUID, dict[str, Any]]:
    """`attach_latest_messages` for values() rows annotated with `latest_message_id`: the
    messages as values() rows of `columns` with their artifacts and attachments, by id
    (three queries, none when no row has a message)."""
    ids = [row["latest_message_id"] for row in rows if row["latest_message_id"]]
    if not ids:
        return {}
    messages = _messages_of_ids(tuple(columns)).rows(ids=ids)
    attach_detail_rows(messages)
    return {message["id"]: message for message in messages}


def message_for(user: User, message_id: uuid.UUID) -> ChatMessage:
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


def attachment_for(user: User, attachment_id: uuid.UUID) -> Attachment:
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
    messages: list[Any]  # ChatMessage instances, or values() rows
    count: int
    has_more: bool


def messages_of(
    task: Task,
    *,
    limit: int,
    before: uuid.UUID | None = None,
    after: uuid.UUID | None = None,
    columns: Sequence[str] | None = None,
) -> MessagePage:
    """A page of the task's thread, oldest first.

    Without `before`/`after`: the newest `limit` messages. `before`: the `limit`
    messages just older than that one (scrolling back); `after`: the `limit`
    messages just newer (catching up). `has_more`: more lie beyond, in that direction.

    `columns`: the messages are values() rows of these columns, each with its
    `artifacts` and `attachments` as values() rows too (ARTIFACT_COLUMNS,
    ATTACHMENT_COLUMNS), read in as many queries as the instances' prefetches.
    """
    thread = ChatMessage.objects.filter(task=task)
    count = sum(n for (n,) in _THREAD_COUNT.tuples(task=task.pk))  # no row: no message
    if columns is None:
        instances = messages_with_details().filter(task=task)
        return _thread_page(task, instances, count, limit, before, after)
    if before is None and after is None:  # the newest page: what every client opens
        rows = _newest_rows(tuple(columns), limit + 1).rows(task=task.pk)
        page = MessagePage(list(reversed(rows[:limit])), count, len(rows) > limit)
    else:
        page = _thread_page(task, thread.values(*columns), count, limit, before, after)
    attach_detail_rows(page.messages)
    return page


# A thread's count and its newest page, compiled once (config.compiled): read by every
# chat view, they cost more Python to build than PostgreSQL took to answer them.
_THREAD_COUNT = CompiledQuery(
    lambda: (
        ChatMessage.objects.filter(task_id=Slot("task", UUIDField()))
        .order_by()
        .values("task_id")
        .annotate(n=Count("pk"))
        .values_list("n")
    )
)


@lru_cache(maxsize=64)
def _newest_rows(columns: tuple[str, ...], limit: int) -> CompiledQuery:
    """The newest `limit` messages, newest first (a LIMIT is part of the SQL: one query
    per page size clients ask for)."""
    return CompiledQuery(
        lambda: (
            ChatMessage.objects.filter(task_id=Slot("task", UUIDField()))
            .values(*columns)
            .order_by("-timestamp", "-id")[:limit]
        )
    )


ARTIFACT_COLUMNS = ("message_id", "id", "type", "content", "icon")
ATTACHMENT_COLUMNS = ("message_id", "id", "filename", "mime_type", "size", "path")


def attach_detail_rows(messages: Sequence[dict[str, Any]]) -> None:
    """Sets each message row's `artifacts` and `attachments` (values() rows, in their
    order): one query each, none when there are no messages."""
    for row in messages:
        row["artifacts"], row["attachments"] = [], []
    if not messages:
        return
    by_id = {row["id"]: row for row in messages}
    for key, query in (("artifacts", _ARTIFACTS), ("attachments", _ATTACHMENTS)):
        for detail in query.rows(messages=list(by_id)):
            by_id[detail["message_id"]][key].append(detail)


# The messages of a page (or the latest of a task list's rows), and their artifacts and
# attachments, compiled once (config.compiled): built by the ORM, the two detail reads
# cost a messages page 0.9 ms of CPU, more than the rest of its queries.
@lru_cache(maxsize=8)
def _messages_of_ids(columns: tuple[str, ...]) -> CompiledQuery:
    # Their times only go out: PostgreSQL writes them (config.apitext).
    text = [name for name in ("timestamp",) if name in columns]
    return CompiledQuery(
        lambda: as_text(
            ChatMessage.objects.filter(id__in=Slots("ids", UUIDField())).values(*columns), *text
        )
    )


def _details(model: type[Artifact | Attachment], columns: tuple[str, ...]) -> CompiledQuery:
    return CompiledQuery(
        lambda: (
            model.objects.filter(message_id__in=Slots("messages", UUIDField()))
            .order_by("position", "id")
            .values(*columns)
        )
    )


_ARTIFACTS = _details(Artifact, ARTIFACT_COLUMNS)
_ATTACHMENTS = _details(Attachment, ATTACHMENT_COLUMNS)


def _thread_page(
    task: Task,
    rows: QuerySet[Any],
    count: int,
    limit: int,
    before: uuid.UUID | None,
    after: uuid.UUID | None,
) -> MessagePage:
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
    user: User, repo_id: uuid.UUID, robot_id: uuid.UUID, group_id: uuid.UUID | None
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
