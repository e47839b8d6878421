"""POST /api/webhooks/{github,gitlab}/{repoId}: signed deliveries in GitHub's and
GitLab's documented shapes, stored once, turned into groups, tasks and runs."""

import json

import pytest
from rest_framework.test import APIClient

from chat.models import Artifact, ArtifactType, ChatMessage
from integrations.models import InboundDelivery
from runs.models import TaskRun
from tasks.models import Task, TaskGroup
from tests.factories import RobotFactory
from tests.integrations import payloads as p
from tests.integrations.conftest import SECRET
from tests.personas import PERSONAS, assert_error

pytestmark = pytest.mark.django_db(transaction=True)


def github(repo, event, body, *, secret=SECRET, delivery=None, raw=None, **headers):
    data = raw if raw is not None else p.encode(body)
    signed = p.github_headers(secret, data, event, delivery)
    return APIClient().post(
        f"/api/webhooks/github/{repo.id}",
        data=data,
        content_type="application/json",
        **{**signed, **headers},
    )


def gitlab(repo, body, *, token=SECRET, delivery=None, raw=None):
    data = raw if raw is not None else p.encode(body)
    return APIClient().post(
        f"/api/webhooks/gitlab/{repo.id}",
        data=data,
        content_type="application/json",
        **p.gitlab_headers(token, body or {}, delivery),
    )


# -- signatures, size, shape ----------------------------------------------------------------


def test_a_github_delivery_with_a_valid_signature_is_stored(repo):
    response = github(
        repo, "issues", p.gh_issues(), delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958"
    )
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["source"] == "github" and data["event"] == "issues" and data["action"] == "opened"
    assert data["deliveryId"] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert data["signatureOk"] is True and data["outcome"] == "recorded"
    assert InboundDelivery.objects.count() == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"secret": "the-wrong-secret-entirely"},
        {"HTTP_X_HUB_SIGNATURE_256": ""},
        {"HTTP_X_HUB_SIGNATURE_256": "sha1=0123456789abcdef"},
    ],
    ids=["wrong secret", "missing", "not sha256"],
)
def test_a_github_delivery_with_a_wrong_or_missing_signature_is_401_and_stores_nothing(
    repo, headers
):
    response = github(repo, "issues", p.gh_issues(), **headers)
    assert_error(response, 401, "INVALID_SIGNATURE")
    assert not InboundDelivery.objects.exists() and not TaskGroup.objects.exists()


def test_a_body_changed_after_signing_is_401(repo):
    body = p.encode(p.gh_issues())
    headers = p.github_headers(SECRET, body, "issues")
    response = APIClient().post(
        f"/api/webhooks/github/{repo.id}",
        data=body.replace(b"Found a bug", b"Found a bag"),
        content_type="application/json",
        **headers,
    )
    assert_error(response, 401, "INVALID_SIGNATURE")


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_a_gitlab_delivery_with_a_wrong_or_missing_token_is_401(repo, token):
    assert_error(gitlab(repo, p.gl_issue(), token=token), 401, "INVALID_SIGNATURE")
    assert not InboundDelivery.objects.exists()


def test_a_repository_without_a_secret_accepts_nothing(repo):
    repo.webhook_secret = ""
    repo.save()
    assert_error(github(repo, "issues", p.gh_issues(), secret=""), 401, "INVALID_SIGNATURE")


def test_an_unknown_repository_is_404(repo):
    repo_id = repo.id
    repo.delete()
    assert_error(github(repo, "issues", p.gh_issues()), 404, "NOT_FOUND")
    assert str(repo_id) not in InboundDelivery.objects.values_list("repository_id", flat=True)


def test_a_body_over_the_cap_is_413(repo, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    body = p.gh_issues(body="x" * 2000)
    assert_error(github(repo, "issues", body), 413, "PAYLOAD_TOO_LARGE")
    assert not InboundDelivery.objects.exists()


def test_the_cap_defaults_to_one_mebibyte(settings):
    assert settings.WEBHOOK_MAX_BODY_BYTES == 1024 * 1024


def test_malformed_json_is_400(repo):
    response = github(repo, "issues", None, raw=b'{"action": "opened", ')
    assert_error(response, 400, "MALFORMED_PAYLOAD")
    response = gitlab(repo, None, raw=b"[1, 2]")
    assert_error(response, 400, "MALFORMED_PAYLOAD")
    deep = b'{"action": "opened", "issue": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert_error(github(repo, "issues", None, raw=deep), 400, "MALFORMED_PAYLOAD")
    assert_error(github(repo, "issues", None, raw=b'{"a": NaN}'), 400, "MALFORMED_PAYLOAD")
    assert not InboundDelivery.objects.exists()


def test_a_redelivery_stores_nothing_new_and_answers_the_first_outcome(repo, robot):
    body = p.gh_issues(body="@taskbot please fix")
    first = github(repo, "issues", body, delivery="d-1")
    again = github(repo, "issues", body, delivery="d-1")
    assert first.status_code == again.status_code == 200
    assert again.json()["data"] == first.json()["data"]
    assert first.json()["data"]["outcome"] == "task_created"
    assert InboundDelivery.objects.count() == 1
    assert Task.objects.count() == 1 and TaskRun.objects.count() == 1


def test_a_gitlab_redelivery_is_idempotent_by_its_event_uuid(repo):
    body = p.gl_issue()
    first = gitlab(repo, body, delivery="gl-uuid-1")
    again = gitlab(repo, body, delivery="gl-uuid-1")
    assert again.status_code == 200 and again.json()["data"]["id"] == first.json()["data"]["id"]
    assert InboundDelivery.objects.count() == 1


def test_unknown_event_types_are_202_and_recorded_as_ignored(repo):
    response = github(repo, "watch", {"action": "started", "repository": p.REPO})
    assert response.status_code == 202
    data = response.json()["data"]
    assert data["outcome"] == "ignored" and "watch" in data["detail"]
    assert InboundDelivery.objects.get().outcome == "ignored"
    assert not TaskGroup.objects.exists()
    response = gitlab(repo, {"object_kind": "wiki_page", "object_attributes": {"action": "create"}})
    assert response.status_code == 202 and response.json()["data"]["outcome"] == "ignored"


def test_an_action_taskdesk_does_not_act_on_is_ignored(repo):
    response = github(repo, "issues", p.gh_issues("labeled"))
    assert response.status_code == 202 and response.json()["data"]["outcome"] == "ignored"


# -- events to groups and tasks --------------------------------------------------------------

GITHUB_EVENTS = [
    ("issues", p.gh_issues("opened"), "issue", "#1347"),
    ("issues", p.gh_issues("edited"), "issue", "#1347"),
    ("issue_comment", p.gh_issue_comment("a comment"), "issue", "#1347"),
    (
        "issue_comment",
        p.gh_issue_comment("on a PR", on_pull_request=True, number=2),
        "merge_request",
        "!2",
    ),
    ("pull_request", p.gh_pull_request("opened"), "merge_request", "!2"),
    ("pull_request", p.gh_pull_request("synchronize"), "merge_request", "!2"),
    ("pull_request", p.gh_pull_request("closed", state="closed"), "merge_request", "!2"),
    (
        "pull_request",
        p.gh_pull_request("closed", state="closed", merged=True),
        "merge_request",
        "!2",
    ),
    ("pull_request", p.gh_pull_request("reopened"), "merge_request", "!2"),
    ("pull_request_review_comment", p.gh_review_comment("nit"), "merge_request", "!2"),
    ("pull_request_review", p.gh_review("Looks good"), "merge_request", "!2"),
    ("commit_comment", p.gh_commit_comment("Why this?"), "commit", p.SHA),
    ("push", p.gh_push(), "commit", p.SHA),
]


@pytest.mark.parametrize(
    ("event", "body", "kind", "key"),
    GITHUB_EVENTS,
    ids=[f"{e}-{b.get('action', 'push')}-{i}" for i, (e, b, _, _) in enumerate(GITHUB_EVENTS)],
)
def test_each_github_event_is_recorded_on_its_group_and_creates_no_task_unaddressed(
    repo, robot, event, body, kind, key
):
    response = github(repo, event, body)
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    group = TaskGroup.objects.get()
    assert (group.kind, group.binding_key, group.repository_id) == (kind, key, repo.id)
    assert group.workspace_id == repo.workspace_id
    assert data["outcome"] == "recorded" and data["groupId"] == str(group.id)
    assert data["taskIds"] == [] and not Task.objects.exists()


GITLAB_EVENTS = [
    (p.gl_issue("open"), "issue", "#23"),
    (p.gl_issue("update"), "issue", "#23"),
    (p.gl_note("a note", "Issue"), "issue", "#17"),
    (p.gl_note("a note", "MergeRequest"), "merge_request", "!1"),
    (p.gl_note("a note", "Commit"), "commit", p.SHA),
    (p.gl_merge_request("open"), "merge_request", "!1"),
    (p.gl_merge_request("update", oldrev=p.SHA_BEFORE), "merge_request", "!1"),
    (p.gl_merge_request("close", state="closed"), "merge_request", "!1"),
    (p.gl_merge_request("merge", state="merged"), "merge_request", "!1"),
    (p.gl_merge_request("reopen"), "merge_request", "!1"),
    (p.gl_push(), "commit", p.SHA),
]


@pytest.mark.parametrize(
    ("body", "kind", "key"),
    GITLAB_EVENTS,
    ids=[f"{b['object_kind']}-{i}" for i, (b, _, _) in enumerate(GITLAB_EVENTS)],
)
def test_each_gitlab_event_is_recorded_on_its_group(repo, robot, body, kind, key):
    response = gitlab(repo, body)
    assert response.status_code == 200, response.content
    group = TaskGroup.objects.get()
    assert (group.kind, group.binding_key) == (kind, key)
    assert response.json()["data"]["outcome"] == "recorded"
    assert not Task.objects.exists()


def test_events_of_one_issue_share_one_group(repo):
    github(repo, "issues", p.gh_issues("opened"))
    github(repo, "issue_comment", p.gh_issue_comment("more"))
    github(repo, "issues", p.gh_issues("opened", number=7))
    assert sorted(TaskGroup.objects.values_list("binding_key", flat=True)) == ["#1347", "#7"]


def test_a_robot_mention_creates_a_webhook_task_whose_run_the_scripted_robot_completes(
    repo, robot, recorded_events
):
    body = p.gh_issues(body="Login fails on Safari. @taskbot can you look?")
    data = github(repo, "issues", body).json()["data"]
    task = Task.objects.get()
    assert data["outcome"] == "task_created" and data["taskIds"] == [str(task.id)]
    assert (task.event_type, task.source_type) == ("issue", "WEBHOOK")
    assert task.robot == robot and task.repository == repo
    assert task.group == TaskGroup.objects.get(binding_key="#1347")
    assert task.prompt == "Found a bug\n\nLogin fails on Safari. @taskbot can you look?"
    assert task.title == "Found a bug" and task.branch == repo.default_branch
    run = TaskRun.objects.get(task=task)
    task.refresh_from_db()
    assert run.status == "COMPLETED" and task.workflow_status == "COMPLETED"
    assert (run.trigger, run.requested_by, run.retry_of) == ("webhook", None, None)
    assert ChatMessage.objects.get(task=task).message == "Echo: Found a bug"
    assert any(
        e["event"] == "task-created" and e["data"]["taskId"] == str(task.id)
        for e in recorded_events
    )


@pytest.mark.parametrize(
    ("source", "event", "body", "event_type"),
    [
        ("github", "issue_comment", p.gh_issue_comment("@TaskBot fix it"), "issue"),
        (
            "github",
            "pull_request_review_comment",
            p.gh_review_comment("@taskbot rename"),
            "merge_request",
        ),
        ("github", "push", p.gh_push("Fix typo\n\n@taskbot write the changelog"), "commit"),
        ("github", "pull_request_review", p.gh_review("@taskbot address these"), "merge_request"),
        ("github", "commit_comment", p.gh_commit_comment("@taskbot explain"), "commit"),
        ("gitlab", "", p.gl_note("@taskbot please", "MergeRequest"), "merge_request"),
        ("gitlab", "", p.gl_merge_request("open", description="cc @taskbot"), "merge_request"),
        ("gitlab", "", p.gl_push("@taskbot build it"), "commit"),
    ],
)
def test_mentions_in_comments_pull_requests_and_pushes_queue_tasks(
    repo, robot, source, event, body, event_type
):
    response = github(repo, event, body) if source == "github" else gitlab(repo, body)
    assert response.json()["data"]["outcome"] == "task_created", response.content
    task = Task.objects.get()
    assert task.event_type == event_type and task.source_type == "WEBHOOK"
    assert TaskRun.objects.get(task=task).status == "COMPLETED"


def test_a_mention_of_another_name_or_an_email_does_not_address_the_robot(repo, robot):
    github(repo, "issue_comment", p.gh_issue_comment("ask @taskbotter or mail me@taskbot"))
    assert not Task.objects.exists()


def test_a_disabled_robot_or_one_of_another_repository_is_not_addressed(repo, robot, workspace):
    robot.enabled = False
    robot.save()
    RobotFactory(workspace=workspace, name="elsewhere-bot")
    github(repo, "issue_comment", p.gh_issue_comment("@taskbot @elsewhere-bot go"))
    assert not Task.objects.exists()


def test_trigger_rules_address_a_robot_by_event_label_and_branch(repo, workspace):
    RobotFactory(
        workspace=workspace,
        repository=repo,
        name="triage",
        config={"triggers": {"events": ["issue.opened"], "labels": ["bug"]}},
    )
    RobotFactory(
        workspace=workspace,
        repository=repo,
        name="ci",
        config={"triggers": {"events": ["push"], "branches": ["release/*"]}},
    )
    github(repo, "issues", p.gh_issues("opened"))  # label bug: triage
    github(repo, "issues", p.gh_issues("edited"))  # not an opened event
    github(repo, "push", p.gh_push(ref="refs/heads/main"))  # not a release branch
    github(repo, "push", p.gh_push(ref="refs/heads/release/2.0", after="a" * 40))
    made = sorted(Task.objects.values_list("robot__name", "event_type"))
    assert made == [("ci", "commit"), ("triage", "issue")]


# -- pull request state ------------------------------------------------------------------


def test_a_merged_pull_request_updates_the_artifact_of_the_task_that_opened_it(
    repo, robot, recorded_events
):
    github(repo, "issues", p.gh_issues(body="@taskbot fix it"))
    task = Task.objects.get()
    opened = ChatMessage.objects.create(task=task, role="ASSISTANT", message="Opened PR #2")
    artifact = Artifact.objects.create(
        message=opened,
        type=ArtifactType.PULL_REQUEST,
        content={
            "url": "https://github.com/octocat/Hello-World/pull/2",
            "number": 2,
            "status": "open",
            "checks": {"ci": "success"},
        },
    )
    recorded_events.clear()

    github(repo, "pull_request", p.gh_pull_request("closed", state="closed", merged=True))

    artifact.refresh_from_db()
    assert artifact.content == {
        "url": "https://github.com/octocat/Hello-World/pull/2",
        "number": 2,
        "status": "merged",
        "checks": {"ci": "success"},
    }
    [change] = [e for e in recorded_events if e["event"] == "pr-status-change"]
    assert change == {
        "channel": f"private-task-{task.id}",
        "event": "pr-status-change",
        "data": {
            "taskId": str(task.id),
            "artifactId": str(artifact.id),
            "status": "merged",
            "url": "https://github.com/octocat/Hello-World/pull/2",
        },
        "exclude_socket_id": None,
    }
    # The same state again (a redelivered or later event) changes nothing and says nothing.
    recorded_events.clear()
    github(repo, "pull_request", p.gh_pull_request("closed", state="closed", merged=True))
    assert not [e for e in recorded_events if e["event"] == "pr-status-change"]


def test_a_pull_request_of_a_group_with_a_task_gets_an_artifact_on_its_newest_task(
    repo, robot, recorded_events
):
    github(repo, "pull_request", p.gh_pull_request("opened", draft=True, body="@taskbot review"))
    task = Task.objects.get()
    artifact = Artifact.objects.get(type=ArtifactType.PULL_REQUEST)
    assert artifact.message.task == task
    assert artifact.content["status"] == "draft" and artifact.content["number"] == 2
    gitlab_like = [e for e in recorded_events if e["event"] == "pr-status-change"]
    assert gitlab_like[-1]["data"]["status"] == "draft"
    github(repo, "pull_request", p.gh_pull_request("closed", state="closed"))
    artifact.refresh_from_db()
    assert artifact.content["status"] == "closed"
    assert Artifact.objects.filter(type=ArtifactType.PULL_REQUEST).count() == 1


def test_a_gitlab_merge_request_merge_sends_pr_status_change(repo, robot, recorded_events):
    gitlab(repo, p.gl_merge_request("open", description="@taskbot please review"))
    gitlab(repo, p.gl_merge_request("merge", state="merged"))
    changes = [e["data"]["status"] for e in recorded_events if e["event"] == "pr-status-change"]
    assert changes == ["open", "merged"]
    content = Artifact.objects.get(type=ArtifactType.PULL_REQUEST).content
    assert content["url"] == "http://example.com/diaspora/merge_requests/1"


def test_a_pull_request_nobody_works_on_keeps_no_artifact(repo, recorded_events):
    github(repo, "pull_request", p.gh_pull_request("closed", state="closed", merged=True))
    assert not Artifact.objects.exists()
    assert not [e for e in recorded_events if e["event"] == "pr-status-change"]


def test_a_failing_delivery_rolls_back_with_nothing_stored(repo, robot, monkeypatch):
    from integrations import inbound

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(inbound, "_task", boom)
    client = APIClient(raise_request_exception=False)
    data = p.encode(p.gh_issues(body="@taskbot"))
    response = client.post(
        f"/api/webhooks/github/{repo.id}",
        data=data,
        content_type="application/json",
        **p.github_headers(SECRET, data, "issues", "d-9"),
    )
    assert response.status_code == 500
    assert not InboundDelivery.objects.exists() and not TaskGroup.objects.exists()
    monkeypatch.undo()
    again = github(repo, "issues", json.loads(data), delivery="d-9")  # GitHub redelivers
    assert again.json()["data"]["outcome"] == "task_created"


@pytest.mark.postgres_only
def test_concurrent_redeliveries_store_one_delivery_and_one_task(repo, robot):
    """Two copies of one delivery at once (GitHub retries while the first is still being
    handled): the second waits on the unique delivery id, then answers the first."""
    import threading

    from django.db import connection

    body = p.encode(p.gh_issues(body="@taskbot race"))
    headers = p.github_headers(SECRET, body, "issues", "race-1")
    barrier = threading.Barrier(4)
    answers = []

    def post():
        try:
            barrier.wait()
            response = APIClient().post(
                f"/api/webhooks/github/{repo.id}",
                data=body,
                content_type="application/json",
                **headers,
            )
            answers.append((response.status_code, response.json()["data"]["id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in answers] == [200] * 4
    assert len({delivery for _, delivery in answers}) == 1
    assert InboundDelivery.objects.count() == 1 and Task.objects.count() == 1


@pytest.mark.parametrize("persona", PERSONAS)
def test_a_token_is_no_substitute_for_the_signature(api, repo, persona):
    """Whoever calls, only the repository's secret opens the webhook: unsigned is 401
    even with an owner's token; signed is accepted without any token."""
    data = p.encode(p.gh_issues())
    unsigned = api(persona).post(
        f"/api/webhooks/github/{repo.id}",
        data=data,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="issues",
        HTTP_X_GITHUB_DELIVERY=f"unsigned-{persona}",
    )
    assert_error(unsigned, 401, "INVALID_SIGNATURE")
    signed = api(persona).post(
        f"/api/webhooks/github/{repo.id}",
        data=data,
        content_type="application/json",
        **p.github_headers(SECRET, data, "issues", f"signed-{persona}"),
    )
    assert signed.status_code == 200
    assert InboundDelivery.objects.get().delivery_id == f"signed-{persona}"


def test_check_runs_and_pipelines_keep_the_artifacts_checks(repo, robot, recorded_events):
    github(repo, "pull_request", p.gh_pull_request("opened", body="@taskbot look"))
    gitlab(repo, p.gl_merge_request("open", description="@taskbot too"))
    github_pr, gitlab_mr = Artifact.objects.filter(type=ArtifactType.PULL_REQUEST).order_by(
        "message__timestamp"
    )
    recorded_events.clear()

    assert github(repo, "check_run", p.gh_check_run("failure")).status_code == 200
    assert github(repo, "check_run", p.gh_check_run(action="created")).status_code == 202
    assert gitlab(repo, p.gl_pipeline("failed")).status_code == 200
    assert gitlab(repo, p.gl_pipeline("running")).status_code == 202
    assert gitlab(repo, p.gl_pipeline("success", iid=None)).status_code == 202

    github_pr.refresh_from_db()
    gitlab_mr.refresh_from_db()
    assert github_pr.content["checks"] == {"Octocoders-linter": "failure"}
    assert gitlab_mr.content["checks"] == {"pipeline": "failed"}
    changes = [e["data"]["artifactId"] for e in recorded_events if e["event"] == "pr-status-change"]
    assert changes == [str(github_pr.id), str(gitlab_mr.id)]


def test_a_failing_check_can_trigger_a_robot(repo, workspace):
    RobotFactory(
        workspace=workspace,
        repository=repo,
        name="fixer",
        config={"triggers": {"events": ["merge_request.checks"]}},
    )
    github(repo, "check_run", p.gh_check_run("failure"))
    task = Task.objects.get()
    assert task.event_type == "merge_request" and task.group.binding_key == "!2"
    assert task.branch == "new-topic"
