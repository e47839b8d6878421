from tests.factories import TaskFactory  # noqa: F401 (the shared factory)
