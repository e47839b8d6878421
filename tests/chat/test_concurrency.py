"""Concurrent posts to one task: one row per clientMessageId, an exact message_count.

Real transactions in real threads (each its own database connection), on SQLite and
on PostgreSQL.
"""

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from chat import services
from chat.models import ChatMessage
from tasks.models import Task
from tests.factories import TaskFactory, WorkspaceFactory


def run_together(count: int, work: Callable[[int], object]) -> list[object]:
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def one(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as error:  # reported to the test below
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.fixture
def shared_task(transactional_db):
    return TaskFactory(workspace=WorkspaceFactory(slug="race"))


def test_concurrent_posts_with_one_client_message_id_store_one_message(shared_task):
    def post(i: int) -> object:
        return services.post_message(
            task=Task.objects.get(pk=shared_task.pk), message=f"try {i}", client_message_id="same"
        )

    results = run_together(6, post)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.created for r in results) == 1  # type: ignore[union-attr]
    assert len({r.message.pk for r in results}) == 1  # type: ignore[union-attr]
    assert ChatMessage.objects.filter(task=shared_task).count() == 1
    shared_task.refresh_from_db()
    assert shared_task.message_count == 1


def test_concurrent_posts_count_every_message(shared_task):
    def post(i: int) -> object:
        return services.post_message(task=Task.objects.get(pk=shared_task.pk), message=f"m{i}")

    results = run_together(8, post)
    assert not [r for r in results if isinstance(r, Exception)], results
    shared_task.refresh_from_db()
    assert shared_task.message_count == ChatMessage.objects.filter(task=shared_task).count() == 8
