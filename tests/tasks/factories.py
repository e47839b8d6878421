import factory

from chat.models import Artifact, ChatMessage, ChatRole
from tasks.models import Feature, Repository, Robot, Task, TaskGroup, TaskRun, WorkflowStatus
from tests.factories import UserFactory, WorkspaceFactory


class RepositoryFactory(factory.django.DjangoModelFactory[Repository]):
    class Meta:
        model = Repository

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"repo{n}")
    repository_url = factory.LazyAttribute(lambda r: f"https://git.example.com/{r.name}.git")


class RobotFactory(factory.django.DjangoModelFactory[Robot]):
    class Meta:
        model = Robot

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"robot{n}")


class FeatureFactory(factory.django.DjangoModelFactory[Feature]):
    class Meta:
        model = Feature

    workspace = factory.SubFactory(WorkspaceFactory)
    title = factory.Sequence(lambda n: f"Feature {n}")


class TaskGroupFactory(factory.django.DjangoModelFactory[TaskGroup]):
    class Meta:
        model = TaskGroup

    workspace = factory.SubFactory(WorkspaceFactory)
    kind = "issue"
    binding_key = factory.Sequence(lambda n: f"#{n}")
    title = factory.Sequence(lambda n: f"Group {n}")


class TaskFactory(factory.django.DjangoModelFactory[Task]):
    """A task that ran (COMPLETED), so the "recent" view shows it."""

    class Meta:
        model = Task

    workspace = factory.SubFactory(WorkspaceFactory)
    title = factory.Sequence(lambda n: f"Task {n}")
    workflow_status = WorkflowStatus.COMPLETED


class TaskRunFactory(factory.django.DjangoModelFactory[TaskRun]):
    class Meta:
        model = TaskRun

    task = factory.SubFactory(TaskFactory)
    number = factory.Sequence(lambda n: n + 1)


class ChatMessageFactory(factory.django.DjangoModelFactory[ChatMessage]):
    class Meta:
        model = ChatMessage

    task = factory.SubFactory(TaskFactory)
    message = factory.Sequence(lambda n: f"message {n}")
    role = ChatRole.USER
    created_by = factory.SubFactory(UserFactory)


class ArtifactFactory(factory.django.DjangoModelFactory[Artifact]):
    class Meta:
        model = Artifact

    message = factory.SubFactory(ChatMessageFactory)
    type = "CODE"
    content = factory.LazyFunction(lambda: {"language": "python", "snake_key": 1})
