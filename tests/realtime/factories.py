import factory

from tasks.models import Task
from tests.factories import WorkspaceFactory


class TaskFactory(factory.django.DjangoModelFactory[Task]):
    class Meta:
        model = Task

    workspace = factory.SubFactory(WorkspaceFactory)
    title = factory.Sequence(lambda n: f"Task {n}")
