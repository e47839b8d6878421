"""Chat test data: a repository, robot and task to talk on, and messages written directly."""

from datetime import timedelta

from django.utils import timezone

from chat.models import Artifact, ArtifactType, Attachment, ChatMessage, ChatRole
from tasks.models import Task
from tests.factories import (  # noqa: F401 (shared factories, re-exported)
    RepositoryFactory,
    RobotFactory,
    TaskFactory,
    WorkspaceFactory,
)


def thread(task: Task, count: int, *, with_details: bool = True) -> list[ChatMessage]:
    """`count` messages on the task, each with an artifact and an attachment, in order.

    Written in bulk (not through the service): this is read-path test data.
    """
    start = timezone.now() - timedelta(hours=1)
    messages = ChatMessage.objects.bulk_create(
        ChatMessage(
            task=task,
            message=f"message {i}",
            role=ChatRole.USER if i % 2 == 0 else ChatRole.ASSISTANT,
            timestamp=start + timedelta(seconds=i),
            created_by=task.created_by,
        )
        for i in range(count)
    )
    if with_details:
        Artifact.objects.bulk_create(
            Artifact(message=m, type=ArtifactType.CODE, content={"code": m.message})
            for m in messages
        )
        Attachment.objects.bulk_create(
            Attachment(
                message=m,
                path=f"screens/{i}.png",
                filename=f"{i}.png",
                mime_type="image/png",
                size=i,
            )
            for i, m in enumerate(messages)
        )
    Task.objects.filter(pk=task.pk).update(message_count=count)
    return messages
