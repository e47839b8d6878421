"""Writes to tasks, repositories and robots. Each change is one transaction; its
realtime events are published inside it and leave only after commit."""

import secrets
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Membership, User, Workspace
from config.exceptions import invalid
from realtime.events import publish, task_channel, workspace_channel
from tasks import counters, locks, workflow
from tasks.events import announce, iso
from tasks.models import EventType, Feature, Repository, Robot, Task
from tasks.profiles import check_robot_config
from tasks.signals import run_requested, task_deleting, workflow_set_by_person

UPDATABLE = ("title", "description", "status", "priority")


def _in_workspace(model: Any, pk: UUID | None, workspace_id: UUID, field: str) -> Any:
    """The referenced row, which must belong to the task's workspace (else 400)."""
    if pk is None:
        return None
    row = model.objects.filter(pk=pk, workspace_id=workspace_id).first()
    if row is None:
        raise invalid(field, "No such item in this workspace.")
    return row


def _member(pk: UUID | None, workspace_id: UUID, field: str) -> User | None:
    if pk is None:
        return None
    membership = (
        Membership.objects.select_related("user")
        .filter(user_id=pk, workspace_id=workspace_id)
        .first()
    )
    if membership is None:
        raise invalid(field, "No such member of this workspace.")
    return membership.user


@transaction.atomic
def create_task(
    *,
    actor: User,
    workspace: Workspace,
    title: str,
    description: str | None = None,
    priority: str | None = None,
    repository_id: UUID | None = None,
    robot_id: UUID | None = None,
    feature_id: UUID | None = None,
    assignee_id: UUID | None = None,
    mode: str | None = None,
    branch: str = "",
    run: bool = False,
) -> Task:
    """A TODO card that never ran; with `run`, queued at once."""
    repository = _in_workspace(Repository, repository_id, workspace.id, "repositoryId")
    robot = _in_workspace(Robot, robot_id, workspace.id, "robotId")
    task = Task(
        workspace=workspace,
        title=title,
        description=description,
        repository=repository,
        robot=robot,
        feature=_in_workspace(Feature, feature_id, workspace.id, "featureId"),
        assignee=_member(assignee_id, workspace.id, "assigneeId"),
        created_by=actor,
        branch=branch or (repository.default_branch if repository else ""),
        event_type=EventType.MANUAL,
        prompt=description or title,
    )
    if priority:
        task.priority = priority
    if mode:
        task.mode = mode
    task.save()
    counters.created(task)
    if run:
        run_requested.send(sender=Task, task=task, trigger="create", actor=actor)
    announce(task, "task-created")
    return task


@transaction.atomic
def update_task(task: Task, *, actor: User, changes: dict[str, Any]) -> Task:
    """PATCH: any of title, description, status, workflowStatus, priority, archived,
    assigneeId, featureId; sends the events the mobile clients' contract listens for. A workflow
    status goes through the state machine (409 ILLEGAL_TRANSITION for a move it does not
    have); HALTED halts the task's runs."""
    task = locks.lock(task.pk)
    previous_title = task.title
    before = counters.fact_of(task)
    for field in UPDATABLE:
        if field in changes:
            setattr(task, field, changes[field])
    if "archived" in changes and changes["archived"] != task.archived:
        task.archived = changes["archived"]
        task.archived_at = timezone.now() if task.archived else None
    if "assignee_id" in changes:
        task.assignee = _member(changes["assignee_id"], task.workspace_id, "assigneeId")
    if "feature_id" in changes:
        task.feature = _in_workspace(Feature, changes["feature_id"], task.workspace_id, "featureId")
    status = changes.get("workflow_status", task.workflow_status)
    if status != task.workflow_status:
        workflow.check(task.workflow_status, status, by_person=True)
        workflow_set_by_person.send(sender=Task, task=task, status=status)
    task.save()
    counters.changed(task, before)
    if status != task.workflow_status:
        workflow.move(task, status, by_person=True, now=task.updated_at)
    if task.title != previous_title:
        title_update = {
            "taskId": str(task.id),
            "newTitle": task.title,
            "previousTitle": previous_title,
        }
        publish(task_channel(task.id), "task-title-update", title_update)
        publish(workspace_channel(task.workspace.slug), "workspace-task-title-update", title_update)
    announce(task, "task-updated")
    return task


@transaction.atomic
def delete_task(task: Task, *, actor: User) -> None:
    """Soft delete: the row stays for the admin; every list, count and stat drops it.
    A queued or running task is halted first."""
    task = locks.lock(task.pk)
    task_deleting.send(sender=Task, task=task)
    now = timezone.now()
    # The hook may have moved the task (halted): its facts are read again, not taken
    # from `task`.
    with counters.tracked([task.pk]):
        Task.objects.filter(pk=task.pk).update(deleted=True, deleted_at=now, updated_at=now)
    publish(
        workspace_channel(task.workspace.slug),
        "task-deleted",
        {"taskId": str(task.id), "updatedAt": iso(now)},
    )


@transaction.atomic
def set_archived(tasks: QuerySet[Task], archived: bool) -> int:
    now = timezone.now()
    pks = list(tasks.values_list("pk", flat=True))
    with counters.tracked(pks):
        return Task.objects.filter(pk__in=pks).update(
            archived=archived, archived_at=now if archived else None, updated_at=now
        )


@transaction.atomic
def restore_deleted(tasks: QuerySet[Task]) -> int:
    pks = list(tasks.values_list("pk", flat=True))
    with counters.tracked(pks):
        return Task.objects.filter(pk__in=pks).update(
            deleted=False, deleted_at=None, updated_at=timezone.now()
        )


# -- repositories and robots ----------------------------------------------------------------


def create_repository(*, workspace: Workspace, **fields: Any) -> Repository:
    """A repository; without `webhook_secret` one is generated, and kept on the returned
    object as `generated_webhook_secret` for the one answer that shows it."""
    generated = None if fields.get("webhook_secret") else secrets.token_hex(32)
    if generated:
        fields["webhook_secret"] = generated
    repository = Repository.objects.create(workspace=workspace, **fields)
    repository.generated_webhook_secret = generated  # type: ignore[attr-defined]
    return repository


def update_row(row: Any, changes: dict[str, Any]) -> Any:
    for field, value in changes.items():
        setattr(row, field, value)
    row.save()
    return row


def create_robot(
    *, actor: User, workspace: Workspace, repository_id: UUID | None = None, **fields: Any
) -> Robot:
    """A robot; a `command` or `openai` one names a runner profile the workspace may use
    (only staff may store raw runner fields: tasks.profiles)."""
    check_robot_config(actor, workspace.id, fields["runner"], fields.get("config") or {})
    repository = _in_workspace(Repository, repository_id, workspace.id, "repositoryId")
    return Robot.objects.create(workspace=workspace, repository=repository, **fields)


def update_robot(robot: Robot, changes: dict[str, Any], *, actor: User) -> Robot:
    if "runner" in changes or "config" in changes:  # what runs changes: checked again
        runner = changes.get("runner", robot.runner)
        check_robot_config(actor, robot.workspace_id, runner, changes.get("config", robot.config))
    if "repository_id" in changes:
        robot.repository = _in_workspace(
            Repository, changes.pop("repository_id"), robot.workspace_id, "repositoryId"
        )
    return update_row(robot, changes)
