"""Outbound webhooks against a local receiver this test starts: Standard Webhooks
signatures (checked with the `standardwebhooks` reference verifier), retries with
backoff, nothing for a rolled-back change, no private targets unless allowed."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from integrations import outbound, targets
from integrations.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tasks import services as task_services
from tests.factories import RobotFactory, TaskFactory
from tests.integrations.receiver import receiver
from tests.personas import MANAGE, PERSONAS, expect

pytestmark = pytest.mark.django_db(transaction=True)

ALL_EVENTS = [
    "task.created",
    "task.updated",
    "task.status_changed",
    "task.waiting_for_input",
    "run.finished",
    "message.created",
]


@pytest.fixture(autouse=True)
def allow_local_receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


def endpoint_for(workspace, url, events=("task.created",), **fields):
    return WebhookEndpoint.objects.create(
        workspace=workspace, url=url, events=list(events), **fields
    )


def create_task(people, title="Ship it", **fields):
    return task_services.create_task(
        actor=people["owner"], workspace=people.workspace, title=title, **fields
    )


def test_a_delivery_is_signed_per_standard_webhooks_and_verifies_with_the_reference(people):
    with receiver() as hook:
        endpoint = endpoint_for(people.workspace, hook.url)
        task = create_task(people)
    [request] = hook.requests
    assert request.path == "/hooks/taskdesk"
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "task.created"
    assert payload["data"]["taskId"] == str(task.id) and payload["data"]["workspace"] == "acme"
    assert request.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(Exception, match="signature"):
        Webhook(WebhookEndpoint(workspace=people.workspace).secret).verify(
            request.body, request.headers
        )
    delivery = WebhookDelivery.objects.get()
    assert request.headers["webhook-id"] == delivery.message_id
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1
    assert delivery.response_status == 200 and delivery.duration_ms is not None
    assert delivery.response_body == "answer 200" and delivery.next_attempt_at is None


def test_a_receiver_that_answers_500_twice_gets_the_delivery_on_the_third_attempt(people):
    with receiver(answers=[500, 500]) as hook:
        endpoint_for(people.workspace, hook.url)
        create_task(people)
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts, delivery.response_status) == ("PENDING", 1, 500)
        first_retry = delivery.next_attempt_at
        assert first_retry - delivery.last_attempt_at == timedelta(seconds=30)
        assert outbound.send_due(now=first_retry - timedelta(seconds=1)) == 0  # not due yet

        assert outbound.send_due(now=first_retry) == 1
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("PENDING", 2)
        assert delivery.next_attempt_at - first_retry == timedelta(seconds=120)  # backoff

        assert outbound.send_due(now=delivery.next_attempt_at) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("SUCCEEDED", 3, 200)
    assert [r.headers["webhook-id"] for r in hook.requests] == [delivery.message_id] * 3
    assert WebhookEndpoint.objects.get().failing_since is None


def test_retries_stop_after_five_attempts_over_about_an_hour(people, settings):
    assert sum(settings.WEBHOOK_RETRY_DELAYS) == 3450 and len(settings.WEBHOOK_RETRY_DELAYS) == 4
    with receiver(answers=[503] * 10) as hook:
        endpoint_for(people.workspace, hook.url)
        create_task(people)
        delivery = WebhookDelivery.objects.get()
        while delivery.status == "PENDING":
            outbound.send_due(now=delivery.next_attempt_at)
            delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(hook.requests)) == ("FAILED", 5, 5)
    assert delivery.error == "HTTP 503" and delivery.next_attempt_at is None


def test_nothing_is_written_or_sent_for_a_rolled_back_change(people):
    with receiver() as hook:
        endpoint_for(people.workspace, hook.url)
        with pytest.raises(RuntimeError), transaction.atomic():
            create_task(people)
            assert WebhookDelivery.objects.count() == 1  # written with the change...
            raise RuntimeError("the change fails")
        assert not WebhookDelivery.objects.exists()  # ...and gone with it
        outbound.send_due(now=timezone.now() + timedelta(hours=2))
    assert hook.requests == []


def test_a_private_address_is_refused_when_the_setting_is_off(people, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    with receiver() as hook:
        endpoint_for(people.workspace, hook.url)
        create_task(people)
    delivery = WebhookDelivery.objects.get()
    assert hook.requests == []
    assert delivery.status == "FAILED" and delivery.attempts == 1
    assert "127.0.0.1" in delivery.error and "loopback, private or link-local" in delivery.error


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost/hook",
        "ftp://example.com/hook",
    ],
)
def test_private_loopback_link_local_and_odd_targets_are_refused(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(targets.TargetRefused):
        targets.resolve(url)


def test_a_public_address_is_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    target = targets.resolve("https://93.184.215.14:8443/a?b=1")
    assert (target.address, target.port, target.path) == ("93.184.215.14", 8443, "/a?b=1")


def test_redirects_are_not_followed(people):
    with receiver(answers=[302]) as hook:
        endpoint_for(people.workspace, hook.url)
        create_task(people)
    delivery = WebhookDelivery.objects.get()
    assert len(hook.requests) == 1 and delivery.response_status == 302
    assert delivery.status == "PENDING" and "redirects are not followed" in delivery.error


def test_a_slow_receiver_times_out(people, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    with receiver(delay=2.5) as hook:
        endpoint_for(people.workspace, hook.url)
        create_task(people)
        delivery = WebhookDelivery.objects.get()
    assert delivery.status == "PENDING" and "timed out" in delivery.error.lower()
    assert delivery.duration_ms < 2400


def test_an_endpoint_failing_for_24_hours_is_disabled_and_says_why(api, people):
    with receiver(answers=[500, 500]) as hook:
        endpoint = endpoint_for(people.workspace, hook.url)
        create_task(people)
        endpoint.refresh_from_db()
        assert endpoint.enabled and endpoint.failing_since is not None
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            failing_since=timezone.now() - timedelta(hours=24, minutes=1)
        )
        delivery = WebhookDelivery.objects.get()
        outbound.send_due(now=delivery.next_attempt_at)
    shown = api("admin").get(f"/api/webhook-endpoints/{endpoint.id}").json()["data"]
    assert shown["enabled"] is False and "failed for 24 hours" in shown["disabledReason"]
    assert "HTTP 500" in shown["disabledReason"]
    create_task(people, "after")  # a disabled endpoint is told nothing
    assert WebhookDelivery.objects.count() == 1
    again = api("admin").patch(
        f"/api/webhook-endpoints/{endpoint.id}", {"enabled": True}, format="json"
    )
    assert (
        again.json()["data"]["disabledReason"] == ""
        and again.json()["data"]["failingSince"] is None
    )


def test_each_event_type_is_delivered_when_subscribed(people):
    robot = RobotFactory(
        workspace=people.workspace,
        config={"steps": [{"message": "Working on it"}, {"form": "Which branch?"}]},
    )
    with receiver() as hook:
        endpoint_for(people.workspace, hook.url, ALL_EVENTS)
        endpoint_for(people.workspace, hook.url, ["run.finished"])
        task = create_task(people, robot_id=robot.id, run=True)
    events = list(
        WebhookDelivery.objects.order_by("created_at").values_list("endpoint__events", "event")
    )
    everything = [event for subscribed, event in events if len(subscribed) == 6]
    assert set(everything) == set(ALL_EVENTS)
    assert [event for subscribed, event in events if len(subscribed) == 1] == ["run.finished"]
    assert len(hook.requests) == len(events)
    finished = WebhookDelivery.objects.filter(event="run.finished").first().payload["data"]
    assert finished["taskId"] == str(task.id) and finished["runStatus"] == "COMPLETED"
    waiting = WebhookDelivery.objects.get(event="task.waiting_for_input").payload["data"]
    assert waiting["taskId"] == str(task.id)


def test_workspaces_are_told_only_about_their_own_tasks(people):
    with receiver() as hook:
        endpoint_for(people.elsewhere, hook.url, ALL_EVENTS)
        create_task(people)
    assert hook.requests == [] and not WebhookDelivery.objects.exists()


def lookups_in(queries):
    """The statements that read the endpoints themselves (not a lock's EXISTS)."""
    return [q for q in queries if q["sql"].startswith('SELECT "integrations_webhookendpoint"')]


def test_a_transaction_looks_up_its_listeners_once_and_sees_an_endpoint_added_in_it(people):
    task = create_task(people)
    with receiver() as hook, transaction.atomic(), CaptureQueriesContext(connection) as queries:
        task_services.update_task(task, actor=people["owner"], changes={"title": "One"})
        task_services.update_task(task, actor=people["owner"], changes={"title": "Two"})
        # Four events, no look-up: the task's lock read said that nobody listens.
        assert lookups_in(queries) == []
        assert any(  # the EXISTS read with the locked task
            q["sql"].startswith('SELECT "tasks_task"')
            and "integrations_webhookendpoint" in q["sql"]
            for q in queries
        )
        endpoint_for(people.workspace, hook.url, ["task.updated"])
        task_services.update_task(task, actor=people["owner"], changes={"title": "Three"})
    [request] = hook.requests
    assert (
        Webhook(WebhookEndpoint.objects.get().secret).verify(request.body, request.headers)["data"][
            "title"
        ]
        == "Three"
    )


def test_a_transaction_with_listeners_looks_them_up_once(people):
    task = create_task(people)
    with receiver() as hook:
        endpoint_for(people.workspace, hook.url, ["task.updated"])
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            task_services.update_task(task, actor=people["owner"], changes={"title": "One"})
            task_services.update_task(task, actor=people["owner"], changes={"title": "Two"})
        assert len(lookups_in(queries)) == 1  # four events, one look-up
    assert len(hook.requests) == 2


# -- the API ----------------------------------------------------------------------------------

CREATED = {**MANAGE, "owner": 201, "admin": 201}
DELETED = {**MANAGE, "owner": 204, "admin": 204}


@pytest.mark.parametrize("persona", PERSONAS)
def test_endpoints_per_persona(api, people, persona):
    workspace = people.workspace
    existing = endpoint_for(workspace, "https://hooks.example.com/a")
    client = api(persona)
    body = {
        "workspaceId": str(workspace.id),
        "url": "https://hooks.example.com/taskdesk",
        "events": ["task.status_changed", "run.finished"],
    }
    created = expect(client.post("/api/webhook-endpoints", body, format="json"), CREATED[persona])
    if CREATED[persona] == 201:
        data = created["data"]
        assert data["secret"].startswith("whsec_") and data["enabled"] is True
        assert data["events"] == ["task.status_changed", "run.finished"]
    listed = expect(
        client.get("/api/webhook-endpoints", {"workspaceId": str(workspace.id)}), MANAGE[persona]
    )
    if MANAGE[persona] == 200:
        assert str(existing.id) in [row["id"] for row in listed["data"]]
        assert "secret" not in listed["data"][0]
    got = expect(client.get(f"/api/webhook-endpoints/{existing.id}"), MANAGE[persona])
    if MANAGE[persona] == 200:
        assert "secret" not in got["data"]
    patched = expect(
        client.patch(f"/api/webhook-endpoints/{existing.id}", {"enabled": False}, format="json"),
        MANAGE[persona],
    )
    if MANAGE[persona] == 200:
        assert patched["data"]["enabled"] is False
    expect(client.get(f"/api/webhook-endpoints/{existing.id}/deliveries"), MANAGE[persona])
    tested = expect(client.post(f"/api/webhook-endpoints/{existing.id}/test"), CREATED[persona])
    if CREATED[persona] == 201:
        assert tested["data"]["event"] == "webhook.test"
    expect(client.delete(f"/api/webhook-endpoints/{existing.id}"), DELETED[persona])


def test_an_unnamed_scope_lists_only_the_workspaces_the_caller_manages(api, people):
    endpoint_for(people.workspace, "https://hooks.example.com/a")
    assert api("developer").get("/api/webhook-endpoints").json()["data"] == []
    assert len(api("owner").get("/api/webhook-endpoints").json()["data"]) == 1
    assert api("outsider").get("/api/webhook-endpoints").json()["data"] == []


def test_an_endpoint_needs_known_events_and_an_http_url(api, people):
    client = api("owner")
    for body in (
        {"url": "https://hooks.example.com", "events": ["task.exploded"]},
        {"url": "https://hooks.example.com", "events": []},
        {"url": "not a url", "events": ["task.created"]},
    ):
        response = client.post(
            "/api/webhook-endpoints",
            {"workspaceId": str(people.workspace.id), **body},
            format="json",
        )
        assert response.status_code == 400, body


@pytest.mark.parametrize("persona", PERSONAS)
def test_send_again_per_persona(api, people, persona):
    with receiver(answers=[500]) as hook:
        endpoint = endpoint_for(people.workspace, hook.url)
        create_task(people)
        delivery = WebhookDelivery.objects.get()
        response = api(persona).post(
            f"/api/webhook-endpoints/{endpoint.id}/deliveries/{delivery.id}/send-again"
        )
        body = expect(response, CREATED[persona])
    if CREATED[persona] == 201:
        again = WebhookDelivery.objects.get(pk=body["data"]["id"])
        assert again.message_id == delivery.message_id and again.status == "SUCCEEDED"
        assert len(hook.requests) == 2
    else:
        assert len(hook.requests) == 1


def test_the_delivery_log_shows_request_response_duration_attempt_and_next_attempt(api, people):
    with receiver(answers=[500]) as hook:
        endpoint = endpoint_for(people.workspace, hook.url)
        task = create_task(people)
        outbound.send_test(endpoint)
    rows = api("admin").get(f"/api/webhook-endpoints/{endpoint.id}/deliveries").json()["data"]
    test_event, created = rows
    assert test_event["event"] == "webhook.test" and test_event["status"] == "SUCCEEDED"
    assert created["event"] == "task.created" and created["request"]["data"]["taskId"] == str(
        task.id
    )
    assert created["responseStatus"] == 500 and created["attempts"] == 1
    assert created["nextAttemptAt"] and created["durationMs"] is not None
    assert created["responseBody"] == "answer 500" and created["error"] == "HTTP 500"


def test_the_endpoint_log_lists_in_a_fixed_number_of_queries(
    api, people, django_assert_num_queries
):
    endpoint = endpoint_for(people.workspace, "https://hooks.example.com/a")
    TaskFactory.create_batch(1, workspace=people.workspace)
    outbound.record([endpoint], "task.created", {"n": 1})
    client = api("admin")
    client.get(f"/api/webhook-endpoints/{endpoint.id}/deliveries")
    # token, roles, endpoint, page (not full: it holds every row, no COUNT)
    with django_assert_num_queries(4):
        client.get(f"/api/webhook-endpoints/{endpoint.id}/deliveries")
