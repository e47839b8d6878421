"""Worker presence: a worker's row, stamped by `beat`, deleted by `forget`, alive while
fresh; read-only in the admin. (A real `db_worker` stamping it: tests/ops, /readyz.)"""

from datetime import timedelta

import pytest
from django.utils import timezone

from runs import presence
from runs.models import WorkerPresence
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_beat_creates_the_row_once_then_stamps_it(django_assert_num_queries):
    presence.beat("box:4242")
    first = WorkerPresence.objects.get()
    assert (first.worker_id, first.hostname, first.pid) == ("box:4242", "box", 4242)
    with django_assert_num_queries(1):  # one UPDATE once the row exists
        presence.beat("box:4242")
    again = WorkerPresence.objects.get()
    assert again.heartbeat_at > first.heartbeat_at and again.started_at == first.started_at


def test_alive_means_a_fresh_heartbeat_and_forget_removes_it(settings):
    settings.WORKER_PRESENCE_SECONDS = 8
    presence.beat("fresh:1")
    old = timezone.now() - timedelta(seconds=9)
    WorkerPresence.objects.create(worker_id="stale:2", started_at=old, heartbeat_at=old)
    assert [w.worker_id for w in presence.alive()] == ["fresh:1"]
    assert presence.alive(old).count() == 2  # as seen 9 s ago
    presence.forget("fresh:1")
    assert not presence.alive().exists()


def test_the_admin_lists_workers_read_only(client):
    presence.beat("box:1")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get("/admin/runs/workerpresence/")
    assert page.status_code == 200 and "box:1" in page.content.decode()
    assert client.get("/admin/runs/workerpresence/add/").status_code == 403
    change = client.post("/admin/runs/workerpresence/box:1/change/", {"hostname": "x"})
    assert change.status_code == 403
    assert WorkerPresence.objects.get().hostname == "box"
