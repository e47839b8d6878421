"""The PULL_REQUEST artifact of a pull or merge request: `{url, number, status, checks}`
kept current by its webhooks, with `pr-status-change` on the task's channel when it
changes (its status, url or checks)."""

from typing import Any

from django.db.models import Q

from chat.models import Artifact, ArtifactType, ChatRole
from chat.services import ArtifactInput, post_message
from integrations.providers import PullRequestState
from realtime.events import publish, task_channel
from tasks.models import Repository, Task, TaskGroup


def _tracking(repository: Repository, number: int, url: str) -> Artifact | None:
    """The artifact a task of this repository keeps for the pull request (the task that
    opened it wrote it), newest first."""
    match = Q(content__number=number)
    if url:
        match |= Q(content__url=url)
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
    `pr-status-change` when it changed. None when no task holds it."""
    artifact = _tracking(repository, state.number, state.url)
    if artifact is None:
        return _start_tracking(group, state)
    content = _content(artifact)
    content.update(url=state.url or content.get("url", ""), number=state.number)
    content["status"] = state.status
    _save(artifact, content)
    return artifact


def record_checks(
    repository: Repository, number: int, checks: tuple[tuple[str, str], ...]
) -> Artifact | None:
    """A CI result (`checks[name] = conclusion`) on the pull request's artifact, if a task
    holds one."""
    artifact = _tracking(repository, number, "")
    if artifact is not None:
        content = _content(artifact)
        content["checks"] = {**content["checks"], **dict(checks)}
        _save(artifact, content)
    return artifact


def _content(artifact: Artifact) -> dict[str, Any]:
    content = dict(artifact.content) if isinstance(artifact.content, dict) else {}
    if not isinstance(content.get("checks"), dict):
        content["checks"] = {}
    return content


def _save(artifact: Artifact, content: dict[str, Any]) -> None:
    if content != artifact.content:
        Artifact.objects.filter(pk=artifact.pk).update(content=content)
        artifact.content = content
        announce_status(artifact.message.task_id, artifact)


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
