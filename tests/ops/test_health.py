"""/healthz, /readyz and the guard of /metrics."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ops.models import Alert, AlertKind
from realtime.events import publish
from runs.models import WorkerPresence
from tests.personas import PERSONAS

pytestmark = pytest.mark.django_db


def alive_worker(seconds_ago: float = 0) -> WorkerPresence:
    seen = timezone.now() - timedelta(seconds=seconds_ago)
    return WorkerPresence.objects.create(worker_id="host:1", started_at=seen, heartbeat_at=seen)


@pytest.mark.parametrize("persona", PERSONAS)
def test_healthz_answers_everyone_without_io(api, persona, django_assert_num_queries):
    client = api(persona)
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize("persona", PERSONAS)
def test_readyz_answers_everyone_the_same(api, persona):
    alive_worker()
    response = api(persona).get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_names_each_check_its_state_and_latency(client):
    alive_worker()
    body = client.get("/readyz").json()
    assert set(body["checks"]) >= {"database", "migrations", "workers", "outbox"}
    for check in body["checks"].values():
        assert check["state"] == "ok" and check["latencyMs"] >= 0 and check["detail"]
    assert body["checks"]["workers"]["alive"] == 1
    assert body["checks"]["outbox"]["backlog"] == 0
    assert body["warnings"] == []


def test_readyz_is_503_without_a_fresh_worker_heartbeat(client, settings):
    settings.WORKER_PRESENCE_SECONDS = 8
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["workers"]["state"] == "fail"
    alive_worker(seconds_ago=9)
    assert client.get("/readyz").status_code == 503
    WorkerPresence.objects.update(heartbeat_at=timezone.now())
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_outbox_backs_up_or_ages(client, settings):
    alive_worker()
    settings.READY_OUTBOX_MAX_BACKLOG = 2
    for n in range(3):
        publish("private-task-x", "e", n)
    # The test publisher records without marking: make them undelivered.
    from realtime.models import OutboxEvent

    OutboxEvent.objects.update(sent_at=None)
    body = client.get("/readyz")
    assert body.status_code == 503
    assert body.json()["checks"]["outbox"] == {
        "state": "fail",
        "detail": "backlog over 2",
        "latencyMs": body.json()["checks"]["outbox"]["latencyMs"],
        "backlog": 3,
        "oldestAgeSeconds": body.json()["checks"]["outbox"]["oldestAgeSeconds"],
    }
    settings.READY_OUTBOX_MAX_BACKLOG = 10
    settings.READY_OUTBOX_MAX_AGE_SECONDS = 60
    OutboxEvent.objects.update(created_at=timezone.now() - timedelta(seconds=61))
    outbox = client.get("/readyz").json()["checks"]["outbox"]
    assert outbox["state"] == "fail" and outbox["oldestAgeSeconds"] >= 61


def test_open_alerts_are_readyz_warnings_not_failures(client):
    alive_worker()
    Alert.objects.create(kind=AlertKind.STUCK_PENDING, detail="x", last_seen_at=timezone.now())
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["warnings"] == [{"kind": "stuck_pending", "count": 1}]


def test_readyz_reads_a_bounded_number_of_rows(client, django_assert_max_num_queries):
    alive_worker()
    with django_assert_max_num_queries(6):
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("persona", PERSONAS)
def test_metrics_from_elsewhere_than_the_loopback_is_403(api, persona):
    response = api(persona).get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN"


@pytest.mark.parametrize("persona", PERSONAS)
def test_metrics_from_the_loopback_is_200(api, persona):
    response = api(persona).get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert b"taskdesk_outbox_backlog" in response.content


def test_metrics_token_when_set_is_required_even_from_the_loopback(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    response = client.get(
        "/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape", REMOTE_ADDR="10.1.2.3"
    )
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_head_and_refuse_writes(client, path):
    alive_worker()
    assert client.head(path).status_code == 200
    assert client.post(path).status_code == 405
