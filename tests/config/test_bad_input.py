"""Bad input gets a clear error in the envelope: never a 500, never a partial write."""

import json
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from chat.models import Attachment, ChatMessage
from realtime.events import publish, task_channel
from tasks.models import Task
from tests.factories import RepositoryFactory, RobotFactory, TaskFactory
from tests.personas import assert_error, expect

WRITES = ["/api/tasks", "/api/chat/message", "/api/auth/tokens", "/api/workspaces", "/api/robots"]


@pytest.mark.parametrize("path", WRITES)
@pytest.mark.parametrize("persona", ["owner", "outsider"])
def test_json_nested_too_deep_is_a_400(api, path, persona):
    deep = "[" * 1000 + "]" * 1000
    response = api(persona).generic(
        "POST", path, '{"title": ' + deep + "}", content_type="application/json"
    )
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert "nested deeper than 64 levels" in body["error"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(api, workspace, constant):
    response = api("owner").generic(
        "POST",
        "/api/tasks",
        f'{{"workspaceId": "{workspace.id}", "title": {constant}}}',
        content_type="application/json",
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert not Task.objects.exists()


@pytest.mark.parametrize("title", [5, 1.5, True, ["a"], {"a": 1}])
def test_a_title_is_a_string_not_the_text_of_something_else(api, workspace, title):
    response = api("owner").post(
        "/api/tasks", {"workspaceId": str(workspace.id), "title": title}, format="json"
    )
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert "title" in body["details"]
    assert not Task.objects.exists()


def test_a_body_over_the_limit_is_a_413_on_every_endpoint(api, workspace, settings):
    big = json.dumps({"workspaceId": str(workspace.id), "title": "x" * 3_000_000})
    for path in ["/api/tasks", "/api/workspaces", "/api/auth/tokens", "/api/robots"]:
        response = api("owner").generic("POST", path, big, content_type="application/json")
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("start", "end"), [("9999-12-30", "9999-12-31"), ("0001-01-01", "0001-01-02")]
)
def test_volume_days_out_of_range_are_a_400(api, workspace, start, end):
    response = api("viewer").get(
        "/api/tasks/volume", {"workspaceId": str(workspace.id), "startDay": start, "endDay": end}
    )
    assert_error(response, 400, "VALIDATION_ERROR")


def test_an_attachment_media_type_cannot_carry_a_header(api, workspace):
    task = TaskFactory(workspace=workspace)
    attachment = {
        "path": "screens/a.png",
        "filename": "a.png",
        "mimeType": "text/plain\r\nX-Evil: 1",
        "size": 1,
    }
    response = api("developer").post(
        "/api/chat/message",
        {"taskId": str(task.id), "message": "see", "attachments": [attachment]},
        format="json",
    )
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert "mimeType" in json.dumps(body["details"])
    assert not ChatMessage.objects.exists()


def test_a_stored_bad_media_type_downloads_as_octet_stream(api, workspace, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    task = TaskFactory(workspace=workspace)
    path = f"uploads/{workspace.id}/x/a.txt"
    (tmp_path / f"uploads/{workspace.id}/x").mkdir(parents=True)
    (tmp_path / path).write_text("hello")
    message = ChatMessage.objects.create(task=task, message="old row")
    attachment = Attachment.objects.create(
        message=message, path=path, filename="a.txt", mime_type="text/plain\r\nX-Evil: 1", size=5
    )
    response = api("viewer").get(f"/api/chat/attachments/{attachment.id}/download")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert "X-Evil" not in response


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/tasks/not-a-uuid"),
        ("POST", "/api/nope"),
        ("PUT", "/api/x/y"),
        ("GET", "/api/tasks/%0Aq/messages"),  # a newline in the path
    ],
)
def test_unknown_paths_are_a_json_404_with_csrf_checks_on(db, method, path):
    client = APIClient(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "x" * 32
    response = client.generic(method, path)
    assert_error(response, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("alias", "status"), [("succeeded", "COMPLETED"), ("halted", "HALTED"), ("failed", "FAILED")]
)
def test_patch_takes_the_console_names_of_a_status(api, workspace, alias, status):
    task = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    data = expect(
        api("developer").patch(f"/api/tasks/{task.id}", {"workflowStatus": alias}, format="json"),
        200,
    )["task"]
    assert data["workflowStatus"] == status


def test_an_unknown_workflow_status_lists_the_allowed_ones(api, workspace):
    task = TaskFactory(workspace=workspace)
    body = assert_error(
        api("developer").patch(
            f"/api/tasks/{task.id}", {"workflowStatus": "DANCING"}, format="json"
        ),
        400,
        "VALIDATION_ERROR",
    )
    [message] = body["details"]["workflowStatus"]
    assert "PENDING" in message and "HALTED" in message and "succeeded" in message


def test_a_deleted_tasks_channel_is_neither_authorized_nor_replayed(api, workspace):
    task = TaskFactory(workspace=workspace)
    publish(task_channel(task.id), "new-message", "m1")
    Task.objects.filter(pk=task.pk).update(deleted=True)
    response = api("owner").post(
        "/api/realtime/auth",
        urlencode({"socket_id": "1.2", "channel_name": task_channel(task.id)}),
        content_type="application/x-www-form-urlencoded",
    )
    assert_error(response, 404, "NOT_FOUND")
    replay = api("owner").get("/api/events", {"channel": task_channel(task.id)})
    assert_error(replay, 404, "NOT_FOUND")


def test_bodies_are_json_not_forms(api, workspace):
    form = urlencode({"workspaceId": str(workspace.id), "title": "From a form"})
    response = api("owner").post(
        "/api/tasks", form, content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/repos/{repo}", {"archived": "true"}),
        ("/api/repos/{repo}", {"defaultBranch": 0}),
        ("/api/robots/{robot}", {"name": 0}),
        ("/api/robots/{robot}", {"enabled": 1}),
        ("/api/robots/{robot}", {"config": []}),
        ("/api/robots/{robot}", {"config": None}),
    ],
)
def test_body_values_are_of_the_type_the_schema_gives(api, workspace, path, body):
    """A number is not a string, "true" or 1 not a boolean, a list not an object."""
    repo = RepositoryFactory(workspace=workspace, default_branch="main")
    robot = RobotFactory(workspace=workspace, name="Echo", enabled=True)
    url = path.format(repo=repo.id, robot=robot.id)
    response = api("owner").patch(url, body, format="json")
    body_out = assert_error(response, 400, "VALIDATION_ERROR")
    assert next(iter(body)) in body_out["details"]
    repo.refresh_from_db()
    robot.refresh_from_db()
    assert (repo.archived, repo.default_branch) == (False, "main")
    assert (robot.name, robot.enabled, robot.config) == ("Echo", True, {})


def test_a_robot_created_with_a_null_config_has_none(api, workspace):
    response = api("owner").post(
        "/api/robots",
        {"workspaceId": str(workspace.id), "name": "Plain", "config": None},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["data"]["config"] == {}
