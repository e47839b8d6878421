"""The repository's webhook settings (`webhookSecret` write-only, `webhookUrl`) and its
inbound delivery log with replay, for every persona."""

import pytest

from integrations.models import InboundDelivery
from tasks.models import Repository, Task
from tests.factories import RepositoryFactory
from tests.integrations import payloads as p
from tests.integrations.conftest import SECRET
from tests.integrations.test_inbound import github
from tests.personas import MANAGE, PERSONAS, READ, expect

pytestmark = pytest.mark.django_db(transaction=True)

CREATED = {**MANAGE, "owner": 201, "admin": 201}
REPLAYED = {**MANAGE, "owner": 201, "admin": 201}


def secrets_in(body) -> bool:
    return "webhookSecret" in str(body) or SECRET in str(body)


def test_a_given_webhook_secret_is_stored_and_never_returned(api, workspace, settings):
    settings.SITE_URL = "https://taskdesk.example.com"
    response = api("admin").post(
        "/api/repos",
        {
            "workspaceId": str(workspace.id),
            "name": "Hello-World",
            "repositoryUrl": "https://github.com/octocat/Hello-World",
            "webhookSecret": SECRET,
        },
        format="json",
    )
    created = response.json()["data"]
    assert response.status_code == 201 and not secrets_in(response.json())
    assert created["generatedWebhookSecret"] is None
    repo = Repository.objects.get(pk=created["id"])
    assert repo.webhook_secret == SECRET
    url = f"https://taskdesk.example.com/api/webhooks/github/{repo.id}"
    assert created["webhookUrl"] == url
    detail = api("viewer").get(f"/api/repos/{repo.id}").json()
    assert detail["data"]["webhookUrl"] == url and not secrets_in(detail)
    assert detail["data"]["webhookUrls"]["gitlab"].endswith(f"/api/webhooks/gitlab/{repo.id}")
    listed = api("viewer").get("/api/repos").json()
    assert not secrets_in(listed)


def test_an_absent_secret_is_generated_and_shown_once(api, workspace):
    created = (
        api("owner")
        .post(
            "/api/repos",
            {
                "workspaceId": str(workspace.id),
                "name": "gl",
                "repositoryUrl": "https://gitlab.example.com/group/gl",
            },
            format="json",
        )
        .json()["data"]
    )
    secret = created["generatedWebhookSecret"]
    repo = Repository.objects.get(pk=created["id"])
    assert len(secret) >= 32 and repo.webhook_secret == secret
    assert created["webhookUrl"].endswith(f"/api/webhooks/gitlab/{repo.id}")
    assert secret not in str(api("owner").get(f"/api/repos/{repo.id}").json())
    # It works: a delivery signed with it is accepted.
    response = github(repo, "issues", p.gh_issues(), secret=secret)
    assert response.status_code == 200


def test_patch_sets_a_new_secret_without_showing_it(api, repo):
    response = api("admin").patch(
        f"/api/repos/{repo.id}", {"webhookSecret": "a-brand-new-secret-value"}, format="json"
    )
    assert response.status_code == 200 and "a-brand-new-secret-value" not in str(response.json())
    repo.refresh_from_db()
    assert repo.webhook_secret == "a-brand-new-secret-value"
    assert github(repo, "issues", p.gh_issues()).status_code == 401  # the old one is gone


def test_a_short_secret_is_refused(api, repo):
    response = api("admin").patch(
        f"/api/repos/{repo.id}", {"webhookSecret": "short"}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_delivery_log_per_persona(api, repo, persona):
    github(repo, "issues", p.gh_issues(), delivery="log-1")
    response = api(persona).get(f"/api/repos/{repo.id}/deliveries")
    body = expect(response, READ[persona])
    if READ[persona] == 200:
        [row] = body["data"]
        assert row["deliveryId"] == "log-1" and row["source"] == "github"
        assert row["event"] == "issues" and row["signatureOk"] is True
        assert row["outcome"] == "recorded" and row["groupId"] and row["receivedAt"]
        assert "payload" not in row and body["pagination"]["totalCount"] == 1


@pytest.mark.parametrize("persona", PERSONAS)
def test_replay_per_persona(api, repo, robot, persona):
    github(repo, "issues", p.gh_issues(body="@taskbot go"), delivery="replay-1")
    first = InboundDelivery.objects.get()
    response = api(persona).post(f"/api/repos/{repo.id}/deliveries/{first.id}/replay")
    body = expect(response, REPLAYED[persona])
    if REPLAYED[persona] == 201:
        again = body["data"]
        assert again["replayOfId"] == str(first.id) and again["deliveryId"] == "replay-1"
        assert again["outcome"] == "task_created" and again["id"] != str(first.id)
        assert Task.objects.count() == 2  # the same code ran again, idempotency aside
    else:
        assert InboundDelivery.objects.count() == 1 and Task.objects.count() == 1


def test_replay_of_another_repositorys_delivery_is_404(api, repo, workspace):
    github(repo, "issues", p.gh_issues())
    other = RepositoryFactory(workspace=workspace)
    delivery = InboundDelivery.objects.get()
    response = api("owner").post(f"/api/repos/{other.id}/deliveries/{delivery.id}/replay")
    expect(response, 404)


def test_the_delivery_log_is_newest_first_in_a_fixed_number_of_queries(
    api, repo, robot, django_assert_num_queries
):
    client = api("viewer")
    for n in range(3):
        github(repo, "issues", p.gh_issues(number=n, body="@taskbot"), delivery=f"q-{n}")
    client.get(f"/api/repos/{repo.id}/deliveries")  # warm the token's last-used stamp
    # token, roles, repository, the page, the count (a full page), the page's tasks
    with django_assert_num_queries(6):
        rows = client.get(f"/api/repos/{repo.id}/deliveries", {"limit": 3}).json()["data"]
    assert [r["deliveryId"] for r in rows] == ["q-2", "q-1", "q-0"]
    assert all(len(r["taskIds"]) == 1 for r in rows)
    for n in range(3, 50):
        github(repo, "issues", p.gh_issues(number=n), delivery=f"q-{n}")
    with django_assert_num_queries(6):
        rows = client.get(f"/api/repos/{repo.id}/deliveries", {"limit": 50}).json()["data"]
    assert len(rows) == 50
