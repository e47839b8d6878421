"""The fast output path writes exactly the bytes of DRF's generic path: the values()
rows of the hottest reads (`from_values`, config.representation.VALUES_ROWS) against
model instances through their serializers, FastOutput (config/representation.py) against
`Serializer.to_representation`, and the orjson renderer (config/renderers.py) against
DRF's JSONRenderer (the stdlib encoder), for every read endpoint over the demo workspace
(tasks with every relation and every way of waiting, runs, chat messages with artifacts
and attachments, members, tokens), answered once each way."""

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from accounts.models import ApiToken, Workspace
from chat.models import Attachment, ChatMessage
from config import representation
from config.renderers import CamelCaseJSONRenderer, camelize
from config.representation import FastOutput
from runs import presence
from runs.logs import append_lines
from runs.models import TaskRun
from tasks.models import Task, TaskGroup, WorkflowStatus
from tests.factories import (
    ArtifactFactory,
    ChatMessageFactory,
    FeatureFactory,
    RobotFactory,
    TaskFactory,
    TaskGroupFactory,
    UserFactory,
)


@pytest.fixture
def demo(db):
    call_command("seed_demo", stdout=StringIO())
    workspace = Workspace.objects.get(slug="demo")
    message = ChatMessage.objects.filter(task__workspace=workspace, artifacts__isnull=False)[0]
    Attachment.objects.create(
        message=message, path="uploads/a.txt", filename="a.txt", mime_type="text/plain", size=3
    )
    latest = ChatMessage.objects.filter(task=message.task).order_by("-timestamp", "-id")[0]
    Attachment.objects.create(  # a row's latestMessage carries its attachments too
        message=latest, path="uploads/b.txt", filename="b.txt", mime_type="text/plain", size=5
    )
    run = TaskRun.objects.create(task=message.task, number=1, status=WorkflowStatus.COMPLETED)
    append_lines(run, [("stdout", "hello"), ("stderr", "token=abcdefgh")])
    odd_rows(workspace)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(workspace.owner, 't')[1]}")
    return workspace, client


def odd_rows(workspace: Workspace) -> None:
    """Rows the demo lacks: a feature, assignees named only by first and last name or by
    username, with an image; waiting for input; every queue reason a row can carry
    (robot disabled, group busy with the blocking task, queued behind a live worker);
    text that JSON escapes."""
    presence.beat("host:1")
    group = TaskGroupFactory(workspace=workspace)
    busy = TaskFactory(workspace=workspace, group=group, workflow_status=WorkflowStatus.PENDING)
    TaskRun.objects.create(task=busy, number=1, status=WorkflowStatus.IN_PROGRESS)
    named = UserFactory(username="fl", name="", first_name="Ada", last_name="L", image="")
    bare = UserFactory(username="bare", name="", image="https://example.com/a.png")
    disabled = RobotFactory(workspace=workspace, enabled=False)
    rows = [
        {"group": group, "workflow_status": WorkflowStatus.PENDING, "assignee": named},
        {"workflow_status": WorkflowStatus.PENDING, "robot": disabled, "created_by": bare},
        {"workflow_status": WorkflowStatus.IN_PROGRESS, "awaiting_input": True},
        {"workflow_status": WorkflowStatus.PENDING, "awaiting_input": True, "pod_id": None},
        {
            "workflow_status": WorkflowStatus.PENDING,
            "feature": FeatureFactory(workspace=workspace),
            "title": 'Quote " back \\ tab \t line \u2028 café',
            "description": None,
            "priority": "CRITICAL",
        },
    ]
    for fields in rows:
        TaskFactory(workspace=workspace, **fields)
    talk = TaskFactory(workspace=workspace, title="talk", workflow_status=WorkflowStatus.COMPLETED)
    first = ChatMessageFactory(task=talk, created_by=None, message="Line\u2028break")
    tags = [{"type": "PRODUCT_BRIEF", "id": "brief-1"}, {"type": "SCHEMATIC", "id": "s"}]
    reply = ChatMessageFactory(task=talk, created_by=named, reply=first, context_tags=tags)
    ArtifactFactory(message=reply, icon="bolt", content={"nested": {"snake_key": [1.5, None]}})
    ArtifactFactory(message=reply, type="FORM", content={})
    Attachment.objects.create(
        message=first, path="uploads/b.bin", filename="b é.bin", mime_type="x/y", size=0
    )


def paths(workspace: Workspace) -> list[str]:
    task = Task.objects.filter(workspace=workspace, chat_messages__artifacts__isnull=False).first()
    with_run = Task.objects.filter(workspace=workspace, runs__status=WorkflowStatus.COMPLETED).get()
    group = TaskGroup.objects.filter(workspace=workspace).first()
    talk = Task.objects.get(workspace=workspace, title="talk")
    assert task is not None and group is not None
    ws = workspace.pk
    return [
        "/api/auth/me",
        "/api/workspaces",
        f"/api/workspaces/{workspace.slug}",
        f"/api/workspaces/{workspace.slug}/members",
        "/api/auth/tokens",
        f"/api/tasks?workspaceId={ws}&limit=100&includeLatestMessage=true&includeArchived=true",
        f"/api/tasks?workspaceId={ws}&limit=100&includeLatestMessage=true",
        f"/api/tasks?workspaceId={ws}&limit=100&cursor=",
        f"/api/tasks?workspaceId={ws}&limit=7&cursor={next_cursor(workspace, '')}",
        f"/api/tasks?limit=9&sortBy=priority&cursor={next_cursor(workspace, '&sortBy=priority')}",
        f"/api/tasks?workspaceId={ws}&limit=100&sortBy=workflowStatus&sortOrder=asc&page=1",
        "/api/tasks?limit=100&showAllStatuses=true",
        f"/api/tasks/{task.pk}",
        f"/api/tasks/{with_run.pk}",
        f"/api/tasks/{task.pk}/messages",
        f"/api/tasks/{talk.pk}/messages",
        f"/api/tasks/{talk.pk}/messages?limit=1",
        f"/api/tasks/{talk.pk}/messages?after={talk.chat_messages.first().pk}",
        f"/api/chat/messages/{task.chat_messages.first().pk}",
        f"/api/task-groups?workspaceId={ws}",
        f"/api/dashboard/sidebar?workspaceId={ws}",
        "/api/dashboard/sidebar",
        f"/api/task-groups/{group.pk}",
        f"/api/task-groups/{group.pk}/tasks",
        f"/api/repos?workspaceId={ws}",
        f"/api/robots?workspaceId={ws}",
        f"/api/tasks/{with_run.pk}/logs",
    ]


def next_cursor(workspace: Workspace, params: str) -> str:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(workspace.owner, 'c')[1]}")
    body = client.get(f"/api/tasks?limit=5{params}").json()
    return str(body["pagination"]["nextCursor"])


def test_fast_output_matches_drf(demo, monkeypatch):
    workspace, client = demo
    assert ChatMessage.objects.filter(task__workspace=workspace, attachments__isnull=False).exists()
    fast = {}
    for path in paths(workspace):
        response = client.get(path)
        assert response.status_code == 200, (path, response.content[:300])
        fast[path] = response.content
    monkeypatch.setattr(representation, "VALUES_ROWS", False)
    monkeypatch.setattr(FastOutput, "to_representation", serializers.Serializer.to_representation)
    monkeypatch.setattr(
        CamelCaseJSONRenderer,
        "render",
        lambda self, data, *args: JSONRenderer.render(self, camelize(data), *args),
    )
    for path, body in fast.items():
        assert client.get(path).content == body, path


def test_fast_output_falls_back_for_missing_attributes_and_mappings():
    class Row(FastOutput, serializers.Serializer):
        name = serializers.CharField()
        nick = serializers.CharField(source="profile.nick", default="-")
        upper = serializers.CharField(source="shout")

    class Thing:
        name = "a"
        profile = None

        def shout(self) -> str:
            return "A"

    expected = serializers.Serializer.to_representation(Row(), Thing())
    assert Row(Thing()).data == expected == {"name": "a", "nick": "-", "upper": "A"}
    assert Row({"name": "b", "profile": {"nick": "n"}, "shout": "B"}).data == {
        "name": "b",
        "nick": "n",
        "upper": "B",
    }
