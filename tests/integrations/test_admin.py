"""The staff admin of the integrations: logs, replay, send again, test events, and the
webhook URLs on a repository's page (the secret never shown)."""

import pytest
from django.urls import reverse

from integrations.models import InboundDelivery, WebhookDelivery, WebhookEndpoint
from tasks.models import Task
from tests.integrations import payloads as p
from tests.integrations.conftest import SECRET
from tests.integrations.receiver import receiver
from tests.integrations.test_inbound import github

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_repository_page_shows_the_webhook_urls_and_not_the_secret(staff_client, repo):
    page = staff_client.get(reverse("admin:tasks_repository_change", args=[repo.id]))
    html = page.content.decode()
    assert page.status_code == 200
    assert f"/api/webhooks/github/{repo.id}" in html and f"/api/webhooks/gitlab/{repo.id}" in html
    assert SECRET not in html


@pytest.mark.parametrize("model", ["inbounddelivery", "webhookendpoint", "webhookdelivery"])
def test_the_changelists_and_change_pages_load(staff_client, repo, people, model):
    github(repo, "issues", p.gh_issues())
    endpoint = WebhookEndpoint.objects.create(
        workspace=people.workspace, url="https://hooks.example.com", events=["task.created"]
    )
    WebhookDelivery.objects.create(endpoint=endpoint, event="task.created", message_id="msg_1")
    changelist = staff_client.get(reverse(f"admin:integrations_{model}_changelist"))
    assert changelist.status_code == 200
    row = {
        "inbounddelivery": InboundDelivery,
        "webhookendpoint": WebhookEndpoint,
        "webhookdelivery": WebhookDelivery,
    }[model].objects.first()
    change = staff_client.get(reverse(f"admin:integrations_{model}_change", args=[row.pk]))
    assert change.status_code == 200


def test_replay_send_again_and_test_event_actions(staff_client, repo, robot, people, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    github(repo, "issues", p.gh_issues(body="@taskbot"))
    first = InboundDelivery.objects.get()
    staff_client.post(
        reverse("admin:integrations_inbounddelivery_changelist"),
        {"action": "replay", "_selected_action": [first.pk]},
    )
    assert InboundDelivery.objects.filter(replay_of=first).count() == 1
    assert Task.objects.count() == 2
    with receiver() as hook:
        endpoint = WebhookEndpoint.objects.create(
            workspace=people.workspace, url=hook.url, events=["task.created"]
        )
        staff_client.post(
            reverse("admin:integrations_webhookendpoint_changelist"),
            {"action": "send_test", "_selected_action": [endpoint.pk]},
        )
        delivery = WebhookDelivery.objects.get()
        staff_client.post(
            reverse("admin:integrations_webhookdelivery_changelist"),
            {"action": "send_again", "_selected_action": [delivery.pk]},
        )
    assert [r.headers["webhook-id"] for r in hook.requests] == [delivery.message_id] * 2
    assert WebhookDelivery.objects.filter(status="SUCCEEDED").count() == 2
