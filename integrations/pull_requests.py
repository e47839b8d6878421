"""The PULL_REQUEST artifact of a pull or merge request: `{url, number, status, checks}`
kept current by its webhooks, with `pr-status-change` on the task's channel when it
changes."""

from django.db.models import Q

from chat.models import Artifact, ArtifactType, ChatRole
from chat.services import ArtifactInput, post_message
from integrations.providers import PullRequestState
from realtime.events import publish, task_channel
from tasks.models import Repository, Task, TaskGroup


def _tracking(repository: Repository, state: PullRequestState) -> Artifact | None:
    """The artifact a task of this repository keeps for the pull request (the task that
    opened it wrote it), newest first."""
    match = Q(content__number=state.number)
    if state.url:
        match |= Q(content__url=state.url)
    return (
        Artifact.objects.filter(
            match,
            type=ArtifactType.PULL_REQUEST,
            message__task__repository=repository,
            message__task__deleted=False,
        )
        .select_related("message")
        .order_by("-message__timestamp", "-id")
        .first()
    )


def track(repository: Repository, group: TaskGroup, state: PullRequestState) -> Artifact | None:
    """Updates (or, on the group's newest task, creates) the artifact; publishes
    `pr-status-change` when its status or url changed. None when no task holds it."""
    artifact = _tracking(repository, state)
    if artifact is None:
        return _start_tracking(group, state)
    content = dict(artifact.content) if isinstance(artifact.content, dict) else {}
    changed = (content.get("status"), content.get("url")) != (state.status, state.url)
    content.update(url=state.url or content.get("url", ""), number=state.number)
    content["status"] = state.status
    content.setdefault("checks", {})
    if content != artifact.content:
        Artifact.objects.filter(pk=artifact.pk).update(content=content)
        artifact.content = content
    if changed:
        announce_status(artifact.message.task_id, artifact)
    return artifact


def _start_tracking(group: TaskGroup, state: PullRequestState) -> Artifact | None:
    task = Task.objects.filter(group=group, deleted=False).order_by("-created_at", "-id").first()
    if task is None:
        return None
    content = {"url": state.url, "number": state.number, "status": state.status, "checks": {}}
    posted = post_message(
        task=task,
        message=f"Pull request {group.binding_key} is {state.status}.",
        role=ChatRole.ASSISTANT,
        artifacts=[ArtifactInput(type=ArtifactType.PULL_REQUEST, content=content)],
    )
    artifact = posted.message.artifacts.get()
    announce_status(task.pk, artifact)
    return artifact


def announce_status(task_id: object, artifact: Artifact) -> None:
    content = artifact.content
    publish(
        task_channel(task_id),
        "pr-status-change",
        {
            "taskId": str(task_id),
            "artifactId": str(artifact.pk),
            "status": content.get("status"),
            "url": content.get("url"),
        },
    )
