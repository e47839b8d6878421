"""End to end: GitHub's merged pull request, posted signed to a real daphne process,
reaches a real pusher-js client (Node) as `pr-status-change` on the task's channel."""

import json
import urllib.request

import pytest

from tests.integrations import payloads as p
from tests.realtime import live
from tests.realtime.conftest import listeners, live_db, server, start_server  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

SEED_PULL_REQUEST = """
import json
from accounts.models import Workspace
from chat.models import Artifact, ChatMessage
from tasks.models import Repository, Task
repo = Repository.objects.create(
    workspace=Workspace.objects.get(slug="acme"), name="Hello-World",
    repository_url="https://github.com/octocat/Hello-World", webhook_secret="e2e-webhook-secret",
)
task = Task.objects.get(pk="{task_id}")
task.repository = repo
task.save()
message = ChatMessage.objects.create(task=task, role="ASSISTANT", message="Opened PR #2")
artifact = Artifact.objects.create(
    message=message, type="PULL_REQUEST",
    content={{"url": "https://github.com/octocat/Hello-World/pull/2", "number": 2,
             "status": "open", "checks": {{}}}},
)
print(json.dumps({{"repo_id": str(repo.id), "artifact_id": str(artifact.id)}}))
"""


def test_a_merged_pull_request_reaches_pusher_js_as_pr_status_change(
    server,  # noqa: F811
    listeners,  # noqa: F811
    live_db,  # noqa: F811
):
    task_id = live_db["task_id"]
    seeded = json.loads(
        live.last_line(
            live.manage(live_db["url"], "shell", "-c", SEED_PULL_REQUEST.format(task_id=task_id))
        )
    )
    channel = f"private-task-{task_id}"
    client = listeners(server, live_db["member_token"], [channel])
    client.wait_for(lambda line: line["type"] == "subscribed")

    body = p.encode(p.gh_pull_request("closed", state="closed", merged=True))
    request = urllib.request.Request(
        f"{server.url}/api/webhooks/github/{seeded['repo_id']}",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": "e2e-delivery-1",
            "X-Hub-Signature-256": p.github_headers("e2e-webhook-secret", body, "x")[
                "HTTP_X_HUB_SIGNATURE_256"
            ],
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert answer["data"]["outcome"] == "recorded"

    [event] = client.wait_for(
        lambda line: line["type"] == "event" and line["event"] == "pr-status-change"
    )
    assert event["channel"] == channel
    assert event["data"] == {
        "taskId": task_id,
        "artifactId": seeded["artifact_id"],
        "status": "merged",
        "url": "https://github.com/octocat/Hello-World/pull/2",
    }
