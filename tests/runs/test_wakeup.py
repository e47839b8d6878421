"""Waking idle workers: on PostgreSQL an enqueued job notifies the workers' LISTEN
connection when its transaction commits, and never when it rolls back."""

import threading

import pytest
from django.db import connection, transaction

from runs.wakeup import Listener
from runs.worker import enqueue

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def listener(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    wake, stopping = threading.Event(), threading.Event()
    thread = Listener(wake, stopping)
    thread.start()
    assert thread.listening.wait(10)
    wake.clear()
    yield wake
    stopping.set()
    thread.join(5)


def test_a_committed_enqueue_wakes_the_listener(listener):
    assert connection.vendor == "postgresql"
    with transaction.atomic():
        enqueue("00000000-0000-0000-0000-000000000001")
        assert not listener.wait(0.3)  # not before the commit
    assert listener.wait(5)


def test_a_rolled_back_enqueue_wakes_nobody(listener):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue("00000000-0000-0000-0000-000000000002")
        raise RuntimeError("rolled back")
    assert not listener.wait(0.5)


def test_no_notification_without_the_wake_up(listener, settings):
    settings.WORKER_WAKEUP = False
    enqueue("00000000-0000-0000-0000-000000000003")
    assert not listener.wait(0.5)
