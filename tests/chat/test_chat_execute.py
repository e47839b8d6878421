"""POST /api/chat (chat_execute): the web console's manual chat."""

import pytest

from chat.models import ChatMessage, ChatRole
from realtime.events import task_channel, workspace_channel
from runs.models import TaskRun
from tasks.models import GroupKind, Task, TaskGroup
from tests import recording
from tests.factories import RepositoryFactory, RobotFactory
from tests.personas import PERSONAS, WRITE, assert_error, expect

URL = "/api/chat"


def start(client, repository, robot, text="Add a dark mode toggle", **extra):
    body = {"repoId": str(repository.id), "robotId": str(robot.id), "text": text, **extra}
    return client.post(URL, body, format="json")


@pytest.mark.parametrize("persona", PERSONAS)
def test_chat_needs_developer(api, repository, robot, persona):
    status = 201 if WRITE[persona] == 200 else WRITE[persona]
    expect(start(api(persona), repository, robot), status)
    assert Task.objects.count() == (1 if status == 201 else 0)
    assert TaskGroup.objects.count() == (1 if status == 201 else 0)


def test_chat_creates_a_queued_chat_task_its_group_and_the_user_message(
    api, repository, robot, people, django_capture_on_commit_callbacks
):
    text = "Add a dark mode toggle\n\nIt should follow the system setting."
    with django_capture_on_commit_callbacks(execute=True):
        response = start(api("developer"), repository, robot, text=text)
    data = expect(response, 201)["data"]

    task = Task.objects.get()
    assert data["task"]["id"] == str(task.id)
    assert data["task"]["title"] == "Add a dark mode toggle"
    assert data["task"]["workflowStatus"] == "PENDING"
    assert data["task"]["eventType"] == "chat"
    assert data["task"]["sourceType"] == "USER"
    assert data["task"]["groupId"] == data["taskGroup"]["id"]
    # The task is the list's row (tasks.serializers.TaskRowSerializer).
    assert data["task"]["repository"] == {
        "id": str(repository.id),
        "name": "taskdesk",
        "repositoryUrl": repository.repository_url,
    }
    assert data["task"]["robot"] == {"id": str(robot.id), "name": "Echo"}
    assert data["task"]["_count"] == {"chatMessages": 1}
    assert data["taskGroup"]["kind"] == "chat"
    assert data["taskGroup"]["title"] == "Add a dark mode toggle"
    assert task.created_by == people["developer"]
    assert task.prompt == text
    assert task.workspace == repository.workspace

    message = ChatMessage.objects.get()
    assert (message.task, message.role, message.message) == (task, ChatRole.USER, text)
    assert TaskRun.objects.filter(task=task, status="PENDING").count() == 1

    by_event = {(e["channel"], e["event"]) for e in recording.recorded}
    assert (task_channel(task.id), "new-message") in by_event
    assert (workspace_channel("acme"), "task-created") in by_event


def test_a_second_chat_with_the_group_id_appends_to_the_same_group(api, repository, robot):
    client = api("developer")
    first = expect(start(client, repository, robot, text="First"), 201)["data"]
    group_id = first["taskGroup"]["id"]
    second = expect(start(client, repository, robot, text="Second", taskGroupId=group_id), 201)[
        "data"
    ]

    assert second["taskGroup"]["id"] == group_id
    assert second["task"]["id"] != first["task"]["id"]
    group = TaskGroup.objects.get()
    assert group.kind == GroupKind.CHAT
    assert sorted(group.tasks.values_list("title", flat=True)) == ["First", "Second"]


def test_a_chat_without_group_id_starts_a_new_group(api, repository, robot):
    client = api("developer")
    expect(start(client, repository, robot, text="One"), 201)
    expect(start(client, repository, robot, text="Two"), 201)
    assert TaskGroup.objects.count() == 2


def test_long_text_makes_a_short_title(api, repository, robot):
    data = expect(start(api("developer"), repository, robot, text="word " * 100), 201)["data"]
    assert len(data["task"]["title"]) <= 100
    assert data["task"]["title"].endswith("…")


def test_unknown_or_foreign_repository_is_404(api, repository, robot, people):
    foreign = RepositoryFactory(workspace=people.elsewhere)
    assert_error(start(api("developer"), foreign, robot), 404, "NOT_FOUND")
    body = {"repoId": "00000000-0000-0000-0000-000000000000", "robotId": str(robot.id), "text": "x"}
    assert_error(api("developer").post(URL, body, format="json"), 404, "NOT_FOUND")
    assert not Task.objects.exists()


def test_robot_of_another_workspace_is_400(api, repository, people):
    foreign_robot = RobotFactory(workspace=people.elsewhere)
    response = start(api("developer"), repository, foreign_robot)
    assert "robotId" in assert_error(response, 400, "VALIDATION_ERROR")["details"]
    assert not Task.objects.exists()


def test_group_that_is_not_a_chat_group_of_the_workspace_is_400(api, repository, robot, people):
    issue_group = TaskGroup.objects.create(
        workspace=repository.workspace, kind=GroupKind.ISSUE, binding_key="42"
    )
    foreign_group = TaskGroup.objects.create(workspace=people.elsewhere, kind=GroupKind.CHAT)
    for group in (issue_group, foreign_group):
        response = start(api("developer"), repository, robot, taskGroupId=str(group.id))
        assert "taskGroupId" in assert_error(response, 400, "VALIDATION_ERROR")["details"]
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"text": "x"}, {"repoId": "nope", "robotId": "nope", "text": "x"}],
    ids=["empty", "no-ids", "malformed-ids"],
)
def test_bad_bodies_are_400(api, body):
    assert_error(api("developer").post(URL, body, format="json"), 400, "VALIDATION_ERROR")


def test_text_over_32_kib_is_413_and_creates_nothing(api, repository, robot):
    response = start(api("developer"), repository, robot, text="x" * (32 * 1024 + 1))
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert not Task.objects.exists()
    assert not TaskGroup.objects.exists()


def test_a_disabled_robot_is_400(api, repository, robot):
    robot.enabled = False
    robot.save()
    response = start(api("developer"), repository, robot)
    assert "robotId" in assert_error(response, 400, "VALIDATION_ERROR")["details"]
    assert not Task.objects.exists()


def test_no_chat_starts_in_an_archived_repository_or_group(api, repository, robot):
    client = api("developer")
    group_id = expect(start(client, repository, robot), 201)["data"]["taskGroup"]["id"]
    TaskGroup.objects.filter(pk=group_id).update(archived=True)
    assert_error(start(client, repository, robot, taskGroupId=group_id), 409, "TASK_ARCHIVED")
    repository.archived = True
    repository.save()
    assert_error(start(client, repository, robot), 409, "TASK_ARCHIVED")
    assert Task.objects.count() == 1
