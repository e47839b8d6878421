"""The fast output path writes exactly the bytes of DRF's generic path: FastOutput
(config/representation.py) against `Serializer.to_representation`, and the orjson
renderer (config/renderers.py) against DRF's JSONRenderer (the stdlib encoder), for every
read endpoint over the demo workspace (tasks with every relation, runs, chat messages
with artifacts and attachments, members, tokens), answered once each way."""

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from accounts.models import ApiToken, Workspace
from chat.models import Attachment, ChatMessage
from config.renderers import CamelCaseJSONRenderer, camelize
from config.representation import FastOutput
from runs.logs import append_lines
from runs.models import TaskRun
from tasks.models import Task, TaskGroup, WorkflowStatus


@pytest.fixture
def demo(db):
    call_command("seed_demo", stdout=StringIO())
    workspace = Workspace.objects.get(slug="demo")
    message = ChatMessage.objects.filter(task__workspace=workspace, artifacts__isnull=False)[0]
    Attachment.objects.create(
        message=message, path="uploads/a.txt", filename="a.txt", mime_type="text/plain", size=3
    )
    run = TaskRun.objects.create(task=message.task, number=1, status=WorkflowStatus.COMPLETED)
    append_lines(run, [("stdout", "hello"), ("stderr", "token=abcdefgh")])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(workspace.owner, 't')[1]}")
    return workspace, client


def paths(workspace: Workspace) -> list[str]:
    task = Task.objects.filter(workspace=workspace, chat_messages__artifacts__isnull=False).first()
    with_run = Task.objects.filter(workspace=workspace, runs__isnull=False).get()
    group = TaskGroup.objects.filter(workspace=workspace).first()
    assert task is not None and group is not None
    ws = workspace.pk
    return [
        "/api/auth/me",
        "/api/workspaces",
        f"/api/workspaces/{workspace.slug}",
        f"/api/workspaces/{workspace.slug}/members",
        "/api/auth/tokens",
        f"/api/tasks?workspaceId={ws}&limit=100&includeLatestMessage=true&includeArchived=true",
        f"/api/tasks?workspaceId={ws}&limit=100&cursor=",
        f"/api/tasks/{task.pk}",
        f"/api/tasks/{with_run.pk}",
        f"/api/tasks/{task.pk}/messages",
        f"/api/chat/messages/{task.chat_messages.first().pk}",
        f"/api/task-groups?workspaceId={ws}",
        f"/api/task-groups/{group.pk}",
        f"/api/task-groups/{group.pk}/tasks",
        f"/api/repos?workspaceId={ws}",
        f"/api/robots?workspaceId={ws}",
        f"/api/tasks/{with_run.pk}/logs",
    ]


def test_fast_output_matches_drf(demo, monkeypatch):
    workspace, client = demo
    assert ChatMessage.objects.filter(task__workspace=workspace, attachments__isnull=False).exists()
    fast = {}
    for path in paths(workspace):
        response = client.get(path)
        assert response.status_code == 200, (path, response.content[:300])
        fast[path] = response.content
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
