import factory

from chat.models import Artifact, ChatMessage, ChatRole
from tasks.models import Feature, TaskRun, WorkflowStatus
from tests import factories
from tests.factories import (  # noqa: F401 (shared factories, re-exported)
    RepositoryFactory,
    RobotFactory,
    TaskGroupFactory,
    UserFactory,
    WorkspaceFactory,
)


class FeatureFactory(factory.django.DjangoModelFactory[Feature]):
    class Meta:
        model = Feature

    workspace = factory.SubFactory(WorkspaceFactory)
    title = factory.Sequence(lambda n: f"Feature {n}")


class TaskFactory(factories.TaskFactory):
    """A task that ran (COMPLETED), so the "recent" view shows it."""

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
