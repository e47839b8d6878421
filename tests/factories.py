"""The test data of every app, in one place: factory-boy factories and `thread`."""

from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone

from accounts.models import Membership, Role, User, Workspace
from chat.models import Artifact, ArtifactType, Attachment, ChatMessage, ChatRole
from runs.models import TaskRun
from tasks import counters
from tasks.models import (
    Feature,
    Repository,
    Robot,
    RunnerProfile,
    Task,
    TaskGroup,
    WorkflowStatus,
)


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    name = factory.LazyAttribute(lambda u: u.username.title())
    password = factory.django.Password("correct horse battery staple")


class WorkspaceFactory(factory.django.DjangoModelFactory[Workspace]):
    class Meta:
        model = Workspace
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"ws{n}")
    name = factory.LazyAttribute(lambda w: f"Workspace {w.slug}")
    owner = factory.SubFactory(UserFactory)

    @factory.post_generation
    def owner_membership(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            Membership.objects.get_or_create(workspace=self, user=self.owner, role=Role.OWNER)


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.DEVELOPER


class RepositoryFactory(factory.django.DjangoModelFactory[Repository]):
    class Meta:
        model = Repository

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"repo{n}")
    repository_url = factory.LazyAttribute(lambda r: f"https://git.example.com/{r.name}.git")


class RobotFactory(factory.django.DjangoModelFactory[Robot]):
    """A scripted robot with an empty config: it echoes."""

    class Meta:
        model = Robot

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"robot{n}")


class RunnerProfileFactory(factory.django.DjangoModelFactory[RunnerProfile]):
    """A `command` profile open to every workspace; `secrets={...}` seals its secrets."""

    class Meta:
        model = RunnerProfile

    name = factory.Sequence(lambda n: f"profile{n}")
    runner = "command"
    argv = factory.LazyFunction(lambda: ["cat"])
    all_workspaces = True

    @classmethod
    def _create(cls, model_class, *args, secrets=None, **kwargs):
        from tasks import vault

        profile = model_class(*args, **kwargs)
        vault.set_secrets(profile, secrets or {})
        profile.save()
        return profile


class TaskGroupFactory(factory.django.DjangoModelFactory[TaskGroup]):
    class Meta:
        model = TaskGroup

    workspace = factory.SubFactory(WorkspaceFactory)
    kind = "issue"
    binding_key = factory.Sequence(lambda n: f"#{n}")
    title = factory.Sequence(lambda n: f"Group {n}")


class FeatureFactory(factory.django.DjangoModelFactory[Feature]):
    class Meta:
        model = Feature

    workspace = factory.SubFactory(WorkspaceFactory)
    title = factory.Sequence(lambda n: f"Feature {n}")


class TaskFactory(factory.django.DjangoModelFactory[Task]):
    """A TODO card that never ran (workflowStatus null); `ran=True`: one that ran to
    COMPLETED, so the list's "recent" view shows it."""

    class Meta:
        model = Task

    class Params:
        ran = factory.Trait(workflow_status=WorkflowStatus.COMPLETED)

    workspace = factory.SubFactory(WorkspaceFactory)
    title = factory.Sequence(lambda n: f"Task {n}")

    @classmethod
    def _create(cls, model_class: type[Task], *args: Any, **kwargs: Any) -> Task:
        # As every writer that inserts a task: counted in the workspace's counters.
        task = super()._create(model_class, *args, **kwargs)
        counters.created(task)
        return task


class TaskRunFactory(factory.django.DjangoModelFactory[TaskRun]):
    class Meta:
        model = TaskRun

    task = factory.SubFactory(TaskFactory, ran=True)
    number = factory.Sequence(lambda n: n + 1)


class ChatMessageFactory(factory.django.DjangoModelFactory[ChatMessage]):
    class Meta:
        model = ChatMessage

    task = factory.SubFactory(TaskFactory, ran=True)
    message = factory.Sequence(lambda n: f"message {n}")
    role = ChatRole.USER
    created_by = factory.SubFactory(UserFactory)


class ArtifactFactory(factory.django.DjangoModelFactory[Artifact]):
    class Meta:
        model = Artifact

    message = factory.SubFactory(ChatMessageFactory)
    type = "CODE"
    content = factory.LazyFunction(lambda: {"language": "python", "snake_key": 1})


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
