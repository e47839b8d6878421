import factory

from accounts.models import Membership, Role, User, Workspace
from tasks.models import Repository, Robot, Task, TaskGroup


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


class TaskGroupFactory(factory.django.DjangoModelFactory[TaskGroup]):
    class Meta:
        model = TaskGroup

    workspace = factory.SubFactory(WorkspaceFactory)
    kind = "issue"
    binding_key = factory.Sequence(lambda n: f"#{n}")
    title = factory.Sequence(lambda n: f"Group {n}")


class TaskFactory(factory.django.DjangoModelFactory[Task]):
    """A TODO card that never ran (workflowStatus null)."""

    class Meta:
        model = Task

    workspace = factory.SubFactory(WorkspaceFactory)
    title = factory.Sequence(lambda n: f"Task {n}")
