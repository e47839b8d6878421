import factory

from tasks.models import Repository, Robot, Task, TaskGroup
from tests.factories import WorkspaceFactory


class RepositoryFactory(factory.django.DjangoModelFactory[Repository]):
    class Meta:
        model = Repository

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"repo{n}")
    repository_url = factory.LazyAttribute(lambda r: f"https://git.example.com/{r.name}")


class RobotFactory(factory.django.DjangoModelFactory[Robot]):
    class Meta:
        model = Robot

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"robot{n}")
    runner = "scripted"
    config = factory.LazyFunction(dict)


class TaskGroupFactory(factory.django.DjangoModelFactory[TaskGroup]):
    class Meta:
        model = TaskGroup

    workspace = factory.SubFactory(WorkspaceFactory)
    kind = "task"


class TaskFactory(factory.django.DjangoModelFactory[Task]):
    class Meta:
        model = Task

    workspace = factory.SubFactory(WorkspaceFactory)
    title = factory.Sequence(lambda n: f"Task {n}")
