"""The role-by-endpoint matrix, from the URL resolver: every API route and method has a
row saying the least role it needs, and each persona gets what that row says.

A new endpoint without a row fails `test_every_endpoint_has_a_row`. Reads by
non-members are 404; no answer holds an id of a workspace the caller is not in.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership, Role
from chat import services as chat_services
from chat.models import Attachment, ChatMessage
from integrations.models import InboundDelivery, WebhookDelivery, WebhookEndpoint
from realtime.events import publish, task_channel
from tests.factories import (
    RepositoryFactory,
    RobotFactory,
    TaskFactory,
    TaskGroupFactory,
    TaskRunFactory,
    UserFactory,
    WorkspaceFactory,
)

MEMBERS = ["owner", "admin", "pm", "developer", "stakeholder", "viewer"]
PERSONAS = [*MEMBERS, "outsider", "anonymous", "revoked", "expired"]
ANY = "ANY"  # any signed-in caller (the answer covers only their own workspaces)
SIGNED = "SIGNED"  # a provider's signature, not a caller's credential: 401 for everyone

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Row:
    least: str  # a Role, or ANY
    request: Callable[[dict[str, Any]], tuple[str, Any]]  # ctx -> (path, body)
    fmt: str = "json"


def body(path: str, data: Any = None) -> Callable[[dict[str, Any]], tuple[str, Any]]:
    return lambda ctx: (path.format(**ctx), {k: v.format(**ctx) for k, v in (data or {}).items()})


# (route name, method) -> the least role and a valid request.
ROWS: dict[tuple[str, str], Row] = {
    ("auth-me-list", "get"): Row(ANY, body("/api/auth/me")),
    ("auth-token-list", "get"): Row(ANY, body("/api/auth/tokens")),
    ("auth-token-list", "post"): Row(ANY, body("/api/auth/tokens", {"name": "ci"})),
    ("auth-token-detail", "delete"): Row(ANY, body("/api/auth/tokens/{own_token}")),
    ("workspace-list", "get"): Row(ANY, body("/api/workspaces")),
    ("workspace-list", "post"): Row(
        ANY, body("/api/workspaces", {"slug": "new-{persona}", "name": "New"})
    ),
    ("workspace-detail", "get"): Row(Role.VIEWER, body("/api/workspaces/acme")),
    ("workspace-detail", "patch"): Row(Role.ADMIN, body("/api/workspaces/acme", {"name": "A"})),
    ("member-list", "get"): Row(Role.VIEWER, body("/api/workspaces/acme/members")),
    ("member-list", "post"): Row(
        Role.ADMIN,
        body("/api/workspaces/acme/members", {"username": "colleague", "role": "VIEWER"}),
    ),
    ("member-detail", "patch"): Row(
        Role.ADMIN, body("/api/workspaces/acme/members/{extra}", {"role": "STAKEHOLDER"})
    ),
    ("member-detail", "delete"): Row(Role.ADMIN, body("/api/workspaces/acme/members/{extra}")),
    ("task-list", "get"): Row(ANY, body("/api/tasks")),
    ("task-list", "post"): Row(
        Role.DEVELOPER, body("/api/tasks", {"workspaceId": "{workspace}", "title": "New"})
    ),
    ("task-stats", "get"): Row(ANY, body("/api/tasks/stats")),
    ("task-volume", "get"): Row(
        Role.VIEWER, lambda ctx: ("/api/tasks/volume", {"workspaceId": ctx["workspace"]})
    ),
    ("task-detail", "get"): Row(Role.VIEWER, body("/api/tasks/{task}")),
    ("task-detail", "patch"): Row(Role.DEVELOPER, body("/api/tasks/{task}", {"title": "T"})),
    ("task-detail", "delete"): Row(Role.ADMIN, body("/api/tasks/{task}")),
    ("task-group-list", "get"): Row(ANY, body("/api/task-groups")),
    ("task-group-detail", "get"): Row(Role.VIEWER, body("/api/task-groups/{group}")),
    ("task-group-tasks-tasks", "get"): Row(Role.VIEWER, body("/api/task-groups/{group}/tasks")),
    ("repo-list", "get"): Row(ANY, body("/api/repos")),
    ("repo-list", "post"): Row(
        Role.ADMIN,
        body(
            "/api/repos",
            {"workspaceId": "{workspace}", "name": "r", "repositoryUrl": "https://g.example/r"},
        ),
    ),
    ("repo-detail", "get"): Row(Role.VIEWER, body("/api/repos/{repo}")),
    ("repo-detail", "patch"): Row(Role.ADMIN, body("/api/repos/{repo}", {"name": "r2"})),
    ("repo-detail", "delete"): Row(Role.ADMIN, body("/api/repos/{repo}")),
    ("robot-list", "get"): Row(ANY, body("/api/robots")),
    ("robot-list", "post"): Row(
        Role.ADMIN, body("/api/robots", {"workspaceId": "{workspace}", "name": "b"})
    ),
    ("robot-detail", "get"): Row(Role.VIEWER, body("/api/robots/{robot}")),
    ("robot-detail", "patch"): Row(Role.ADMIN, body("/api/robots/{robot}", {"name": "b2"})),
    ("robot-detail", "delete"): Row(Role.ADMIN, body("/api/robots/{robot}")),
    ("chat-list", "post"): Row(
        Role.DEVELOPER, body("/api/chat", {"repoId": "{repo}", "robotId": "{robot}", "text": "Hi"})
    ),
    ("chat-message", "post"): Row(
        Role.DEVELOPER, body("/api/chat/message", {"taskId": "{task}", "message": "Hi"})
    ),
    ("chat-message-detail", "get"): Row(Role.VIEWER, body("/api/chat/messages/{message}")),
    ("chat-attachment-download", "get"): Row(
        Role.VIEWER, body("/api/chat/attachments/{attachment}/download")
    ),
    ("task-messages-messages", "get"): Row(Role.VIEWER, body("/api/tasks/{task}/messages")),
    ("upload-list", "post"): Row(
        Role.DEVELOPER,
        lambda ctx: (
            "/api/uploads",
            {"workspaceId": ctx["workspace"], "file": SimpleUploadedFile("a.txt", b"hi")},
        ),
        fmt="multipart",
    ),
    ("task-run-retry", "post"): Row(Role.DEVELOPER, body("/api/tasks/{ended_task}/retry")),
    ("task-run-halt", "post"): Row(Role.DEVELOPER, body("/api/tasks/{task}/halt")),
    ("task-run-logs", "get"): Row(Role.VIEWER, body("/api/tasks/{task}/logs")),
    ("task-run-logs", "delete"): Row(Role.ADMIN, body("/api/tasks/{task}/logs")),
    ("task-run-stream", "get"): Row(Role.VIEWER, body("/api/tasks/{ended_task}/logs/stream")),
    ("realtime-auth", "post"): Row(
        Role.VIEWER,
        lambda ctx: (
            "/api/realtime/auth",
            {"socket_id": "1.2", "channel_name": task_channel(ctx["task"])},
        ),
        fmt="form",
    ),
    ("events", "get"): Row(
        Role.VIEWER, lambda ctx: ("/api/events", {"channel": task_channel(ctx["task"])})
    ),
    ("dashboard-sidebar", "get"): Row(ANY, body("/api/dashboard/sidebar")),
    ("workspace-tasks-notifications-count", "get"): Row(
        Role.VIEWER, body("/api/workspaces/acme/tasks/notifications-count")
    ),
    ("webhook-github", "post"): Row(SIGNED, body("/api/webhooks/github/{repo}", {"a": "b"})),
    ("webhook-gitlab", "post"): Row(SIGNED, body("/api/webhooks/gitlab/{repo}", {"a": "b"})),
    ("repo-deliveries-deliveries", "get"): Row(Role.VIEWER, body("/api/repos/{repo}/deliveries")),
    ("repo-deliveries-delivery-replay", "post"): Row(
        Role.ADMIN, body("/api/repos/{repo}/deliveries/{inbound}/replay")
    ),
    ("webhook-endpoint-list", "get"): Row(ANY, body("/api/webhook-endpoints")),
    ("webhook-endpoint-list", "post"): Row(
        Role.ADMIN,
        lambda ctx: (
            "/api/webhook-endpoints",
            {
                "workspaceId": ctx["workspace"],
                "url": "https://hooks.example.com/in",
                "events": ["task.created"],
            },
        ),
    ),
    ("webhook-endpoint-detail", "get"): Row(Role.ADMIN, body("/api/webhook-endpoints/{endpoint}")),
    ("webhook-endpoint-detail", "patch"): Row(
        Role.ADMIN, body("/api/webhook-endpoints/{endpoint}", {"description": "d"})
    ),
    ("webhook-endpoint-detail", "delete"): Row(
        Role.ADMIN, body("/api/webhook-endpoints/{endpoint}")
    ),
    ("webhook-endpoint-deliveries", "get"): Row(
        Role.ADMIN, body("/api/webhook-endpoints/{endpoint}/deliveries")
    ),
    ("webhook-endpoint-delivery-send-again", "post"): Row(
        Role.ADMIN, body("/api/webhook-endpoints/{endpoint}/deliveries/{outbound}/send-again")
    ),
    ("webhook-endpoint-send-test", "post"): Row(
        Role.ADMIN, body("/api/webhook-endpoints/{endpoint}/test")
    ),
}
NOT_API = {"schema", "docs", None}  # the schema, Swagger UI, the JSON 404 catch-all


def api_routes() -> set[tuple[str, str]]:
    """(route name, method) of every /api/ endpoint the resolver knows."""

    def walk(patterns: list[Any], prefix: str = "") -> Any:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern

    found = set()
    for route, pattern in walk(get_resolver().url_patterns):
        if not route.startswith("api/") or pattern.name in NOT_API:
            continue
        view = pattern.callback
        actions = getattr(view, "actions", None)
        if actions:
            methods = set(actions) - {"head"}  # HEAD answers as GET does
        else:
            view_class = view.view_class  # type: ignore[attr-defined]
            methods = {
                m for m in ("get", "post", "patch", "put", "delete") if hasattr(view_class, m)
            }
        found |= {(pattern.name, method) for method in methods}
    return found


def test_every_endpoint_has_a_row():
    assert api_routes() == set(ROWS), "a new endpoint needs its row in ROWS"


@pytest.fixture
def ctx(people, workspace, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    repo = RepositoryFactory(workspace=workspace)
    robot = RobotFactory(workspace=workspace, repository=repo)
    group = TaskGroupFactory(workspace=workspace, repository=repo)
    task = TaskFactory(workspace=workspace, group=group, workflow_status="PENDING")
    TaskRunFactory(task=task, status="PENDING")
    ended = TaskFactory(workspace=workspace, workflow_status="FAILED", repository=repo)
    message = ChatMessage.objects.create(task=task, message="hello")
    upload = chat_services.store_upload(workspace, SimpleUploadedFile("f.txt", b"file"))
    attachment = Attachment.objects.create(
        message=message,
        path=upload.path,
        filename=upload.filename,
        mime_type=upload.mime_type,
        size=upload.size,
    )
    publish(task_channel(task.id), "new-message", str(message.id))
    extra = UserFactory(username="extra")
    Membership.objects.create(workspace=workspace, user=extra, role=Role.VIEWER)
    colleague = UserFactory(username="colleague")
    team = WorkspaceFactory(owner=colleague)
    for user in people.values():
        Membership.objects.create(workspace=team, user=user, role=Role.VIEWER)
    inbound = InboundDelivery.objects.create(
        repository=repo, source="github", event="ping", delivery_id="d-1", outcome="IGNORED"
    )
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url="https://hooks.example.com/in", events=["task.created"]
    )
    outbound = WebhookDelivery.objects.create(
        endpoint=endpoint, event="task.created", message_id="msg_1", status="FAILED"
    )
    # Rows of the other workspace, whose ids must never reach an acme persona.
    foreign = TaskFactory(workspace=people.elsewhere, workflow_status="COMPLETED")
    return {
        "workspace": str(workspace.id),
        "task": str(task.id),
        "ended_task": str(ended.id),
        "group": str(group.id),
        "repo": str(repo.id),
        "robot": str(robot.id),
        "message": str(message.id),
        "attachment": str(attachment.id),
        "extra": str(extra.id),
        "inbound": str(inbound.id),
        "endpoint": str(endpoint.id),
        "outbound": str(outbound.id),
        "acme_ids": {str(task.id), str(ended.id), str(group.id), str(repo.id), str(robot.id)},
        "foreign_ids": {str(foreign.id), str(people.elsewhere.id)},
    }


def client_for(persona: str, people: Any) -> tuple[APIClient, str | None]:
    client = APIClient()
    if persona == "anonymous":
        return client, None
    user = people["developer"] if persona in ("revoked", "expired") else people[persona]
    token, raw = ApiToken.issue(user, persona)
    if persona == "revoked":
        token.revoke()
    elif persona == "expired":
        token.expires_at = timezone.now() - timedelta(seconds=1)
        token.save()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client, str(token.id)


def expected(row: Row, persona: str) -> str:
    """`ok`, or the error the persona gets."""
    if persona in ("anonymous", "revoked", "expired") or row.least == SIGNED:
        return "401"
    if row.least == ANY:
        return "ok"
    if persona == "outsider":
        return "404"
    held = {
        "owner": Role.OWNER,
        "admin": Role.ADMIN,
        "pm": Role.PM,
        "developer": Role.DEVELOPER,
        "stakeholder": Role.STAKEHOLDER,
        "viewer": Role.VIEWER,
    }[persona]
    return "ok" if Role.rank(held) >= Role.rank(row.least) else "403"


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("name", "method"), sorted(ROWS))
def test_the_matrix(people, ctx, persona, name, method):
    row = ROWS[(name, method)]
    client, own_token = client_for(persona, people)
    path, data = row.request(
        {
            **ctx,
            "persona": persona,
            "own_token": own_token or "00000000-0000-0000-0000-000000000000",
        }
    )
    if method == "get":
        response = client.get(path, data)
    elif row.fmt == "form":  # as pusher-js posts its channel auth
        response = getattr(client, method)(path, urlencode(data), content_type=FORM)
    else:
        response = getattr(client, method)(path, data, format=row.fmt)
    want = expected(row, persona)
    if want == "ok":
        assert response.status_code < 400, (persona, response.status_code, response.content)
    else:
        assert response.status_code == int(want), (persona, response.status_code, response.content)
        codes = {"401": "UNAUTHENTICATED", "403": "FORBIDDEN", "404": "NOT_FOUND"}
        if row.least == SIGNED:
            codes["401"] = "INVALID_SIGNATURE"  # a token is no substitute for the signature
        assert response.json()["code"] == codes[want]
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    text = raw.decode(errors="replace")
    leaked = ctx["acme_ids"] if persona == "outsider" else ctx["foreign_ids"]
    assert not [i for i in leaked if i in text], (persona, name, method)
