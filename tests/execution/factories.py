from tests.factories import (  # noqa: F401 (the shared factories, under this app's name)
    RepositoryFactory,
    RobotFactory,
    TaskFactory,
    TaskGroupFactory,
)
