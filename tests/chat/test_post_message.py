"""POST /api/chat/message: the mobile clients' shapes, permissions, limits, idempotency, events."""

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from chat import services
from chat.models import Artifact, ArtifactType, Attachment, ChatMessage
from realtime.events import task_channel, workspace_channel
from runs.models import TaskRun
from tasks.models import Task, WorkflowStatus
from tests import recording
from tests.personas import PERSONAS, WRITE, assert_error, expect

URL = "/api/chat/message"


def post(client, body):
    return client.post(URL, body, format="json")


def stored_upload(workspace_id, name="shot.png", content=b"\x89PNG data"):
    return default_storage.save(f"uploads/{workspace_id}/abc123/{name}", ContentFile(content))


def seed_shapes(task, upload_path):
    """Every request shape of the mobile clients' contract, from minimal to everything."""
    task_id = str(task.id)
    every_artifact = [
        {"type": t, "content": {"someKey": {"nested_key": [1, "two"]}, "Kind": t}}
        for t in ArtifactType.values
    ]
    attachments = [
        {"path": upload_path, "filename": "shot.png", "mimeType": "image/png", "size": 9},
        {
            "path": "screens/login.png",
            "filename": "login.png",
            "mimeType": "image/png",
            "size": 1024,
        },
    ]
    context_tags = [
        {"type": "PRODUCT_BRIEF", "id": "brief-1"},
        {"type": "FEATURE_BRIEF", "id": "feature-7"},
        {"type": "SCHEMATIC", "id": "schema-3"},
    ]
    return {
        "minimal": {"taskId": task_id, "message": "Please fix the login button"},
        "socket": {"taskId": task_id, "message": "hi", "sourceWebsocketID": "123.456"},
        "context_tags": {"taskId": task_id, "message": "see brief", "contextTags": context_tags},
        "artifacts": {"taskId": task_id, "message": "all kinds", "artifacts": every_artifact},
        "attachments": {"taskId": task_id, "message": "files", "attachments": attachments},
        "everything": {
            "taskId": task_id,
            "message": "everything at once ✓",
            "sourceWebsocketID": "1.2",
            "contextTags": context_tags[:1],
            "artifacts": every_artifact[:2],
            "attachments": attachments,
            "clientMessageId": "client-1",
        },
    }


SHAPES = ["minimal", "socket", "context_tags", "artifacts", "attachments", "everything"]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_seed_shape_reads_back_identically_from_both_get_endpoints(api, task, people, shape):
    body = seed_shapes(task, stored_upload(task.workspace_id))[shape]
    client = api("developer")
    message = expect(post(client, body), 201)["message"]

    assert message["taskId"] == str(task.id)
    assert message["message"] == body["message"]
    assert message["role"] == "USER"
    assert message["status"] == "SENT"
    assert message["timestamp"].endswith("Z")
    assert message["replyId"] is None
    assert message["contextTags"] == body.get("contextTags", [])
    assert [(a["type"], a["content"]) for a in message["artifacts"]] == [
        (a["type"], a["content"]) for a in body.get("artifacts", [])
    ]
    assert all(set(a) == {"id", "type", "content", "icon"} for a in message["artifacts"])
    assert [
        {k: a[k] for k in ("path", "filename", "mimeType", "size")} for a in message["attachments"]
    ] == body.get("attachments", [])
    assert message["createdBy"] == {
        "id": str(people["developer"].id),
        "name": "Developer",
        "image": None,
    }

    detail = expect(client.get(f"/api/chat/messages/{message['id']}"), 200)["data"]
    listed = expect(client.get(f"/api/tasks/{task.id}/messages"), 200)["data"]
    assert detail == message
    # The same bytes: a plain message's answer is built from memory, not read back.
    assert json.dumps(detail) == json.dumps(message)
    assert listed["messages"] == [message]
    assert listed["count"] == 1


def test_message_keys_are_the_contracts(api, task):
    message = expect(post(api("developer"), {"taskId": str(task.id), "message": "x"}), 201)
    assert set(message) == {"success", "message"}
    assert set(message["message"]) == {
        "id",
        "taskId",
        "message",
        "role",
        "timestamp",
        "status",
        "replyId",
        "contextTags",
        "artifacts",
        "attachments",
        "createdBy",
    }


def test_source_websocket_id_is_stored_and_excluded_from_the_broadcast(
    api, task, django_capture_on_commit_callbacks
):
    body = {"taskId": str(task.id), "message": "hi", "sourceWebsocketID": "123.456"}
    with django_capture_on_commit_callbacks(execute=True):
        message = expect(post(api("developer"), body), 201)["message"]
        assert recording.recorded == []  # nothing leaves before the commit
    assert ChatMessage.objects.get().source_websocket_id == "123.456"
    new_message = [e for e in recording.recorded if e["event"] == "new-message"]
    assert new_message == [
        {
            "channel": task_channel(task.id),
            "event": "new-message",
            "data": message["id"],
            "exclude_socket_id": "123.456",
        }
    ]
    # The message updates the task, and so does the run it queues (PENDING): one event says
    # both.
    updated = [e for e in recording.recorded if e["channel"] == workspace_channel("acme")]
    assert [(e["event"], e["data"]["taskId"], e["data"]["workflowStatus"]) for e in updated] == [
        ("task-updated", str(task.id), "PENDING")
    ]


def test_without_socket_id_nobody_is_excluded(api, task, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        expect(post(api("developer"), {"taskId": str(task.id), "message": "hi"}), 201)
    assert [e["exclude_socket_id"] for e in recording.recorded if e["event"] == "new-message"] == [
        None
    ]


def test_a_rolled_back_message_sends_nothing(task, people, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.post_message(task=task, message="never", author=people["developer"])
        raise RuntimeError("the surrounding change fails")
    assert callbacks == []
    assert recording.recorded == []
    assert not ChatMessage.objects.exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_posting_needs_developer(api, task, persona):
    response = post(api(persona), {"taskId": str(task.id), "message": "hello"})
    status = 201 if WRITE[persona] == 200 else WRITE[persona]
    expect(response, status)
    assert ChatMessage.objects.count() == (1 if status == 201 else 0)


def test_viewer_with_a_bad_body_still_gets_403(api, task):
    response = post(api("viewer"), {"taskId": str(task.id), "artifacts": "nope"})
    assert_error(response, 403, "FORBIDDEN")


def test_posting_to_another_workspaces_task_is_404(api, other_task):
    assert_error(
        post(api("developer"), {"taskId": str(other_task.id), "message": "hi"}), 404, "NOT_FOUND"
    )
    assert not ChatMessage.objects.exists()


def test_posting_to_an_unknown_or_deleted_task_is_404(api, task):
    unknown = "00000000-0000-0000-0000-000000000000"
    assert_error(post(api("developer"), {"taskId": unknown, "message": "hi"}), 404, "NOT_FOUND")
    Task.objects.filter(pk=task.pk).update(deleted=True)
    assert_error(
        post(api("developer"), {"taskId": str(task.id), "message": "hi"}), 404, "NOT_FOUND"
    )


def test_missing_or_malformed_task_id_is_400(api, task):
    body = assert_error(post(api("developer"), {"message": "hi"}), 400, "VALIDATION_ERROR")
    assert "taskId" in body["details"]
    assert_error(
        post(api("developer"), {"taskId": "not-a-uuid", "message": "hi"}), 400, "VALIDATION_ERROR"
    )


def test_same_client_message_id_returns_the_first_message_and_writes_nothing(
    api, task, django_capture_on_commit_callbacks
):
    body = {"taskId": str(task.id), "message": "once", "clientMessageId": "phone-42"}
    client = api("developer")
    with django_capture_on_commit_callbacks(execute=True):
        first = expect(post(client, body), 201)["message"]
    recorded = len(recording.recorded)
    runs = TaskRun.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        again = expect(post(client, {**body, "message": "twice?"}), 200)["message"]

    assert again == first
    assert ChatMessage.objects.count() == 1
    task.refresh_from_db()
    assert task.message_count == 1
    assert len(recording.recorded) == recorded  # no second new-message
    assert TaskRun.objects.count() == runs


def test_the_same_client_message_id_on_another_task_is_another_message(api, task, workspace):
    from tests.factories import TaskFactory

    second = TaskFactory(workspace=workspace)
    client = api("developer")
    expect(post(client, {"taskId": str(task.id), "message": "a", "clientMessageId": "c"}), 201)
    expect(post(client, {"taskId": str(second.id), "message": "a", "clientMessageId": "c"}), 201)
    assert ChatMessage.objects.count() == 2


def test_message_count_and_updated_at_follow_each_message(api, task):
    before = task.updated_at
    client = api("developer")
    for text in ("one", "two", "three"):
        expect(post(client, {"taskId": str(task.id), "message": text}), 201)
    task.refresh_from_db()
    assert task.message_count == 3
    assert task.updated_at > before


def test_message_over_32_kib_is_413_and_stores_nothing(api, task):
    too_big = "é" * (16 * 1024 + 1)  # 32 KiB + 2 bytes of UTF-8, fewer than 32 Ki characters
    response = post(api("developer"), {"taskId": str(task.id), "message": too_big})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert not ChatMessage.objects.exists()
    task.refresh_from_db()
    assert task.message_count == 0
    assert task.workflow_status is None


def test_message_of_exactly_32_kib_is_accepted(api, task):
    response = post(api("developer"), {"taskId": str(task.id), "message": "a" * 32 * 1024})
    expect(response, 201)


def test_more_than_20_artifacts_is_400(api, task):
    artifacts = [{"type": "CODE", "content": {}}] * 21
    response = post(
        api("developer"), {"taskId": str(task.id), "message": "x", "artifacts": artifacts}
    )
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert "artifacts" in body["details"]
    assert not ChatMessage.objects.exists()
    assert not Artifact.objects.exists()


def test_artifact_over_64_kib_is_400(api, task):
    artifacts = [{"type": "CODE", "content": {"code": "x" * (64 * 1024)}}]
    response = post(
        api("developer"), {"taskId": str(task.id), "message": "x", "artifacts": artifacts}
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert not ChatMessage.objects.exists()


def test_more_than_20_attachments_is_400(api, task):
    one = {"path": "a/b.png", "filename": "b.png", "mimeType": "image/png", "size": 1}
    response = post(
        api("developer"), {"taskId": str(task.id), "message": "x", "attachments": [one] * 21}
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert not Attachment.objects.exists()


@pytest.mark.parametrize(
    "body_patch",
    [
        {"artifacts": [{"type": "SPREADSHEET", "content": {}}]},
        {"contextTags": [{"type": "ROADMAP", "id": "1"}]},
        {"replyId": "not-a-uuid"},
        {"attachments": [{"path": "a.png"}]},
        {"attachments": [{"path": "a.png", "filename": "a", "mimeType": "x", "size": -1}]},
    ],
    ids=["artifact-type", "context-tag-type", "reply-id", "attachment-fields", "negative-size"],
)
def test_bad_values_are_400_and_store_nothing(api, task, body_patch):
    body = {"taskId": str(task.id), "message": "x", **body_patch}
    assert_error(post(api("developer"), body), 400, "VALIDATION_ERROR")
    assert not ChatMessage.objects.exists()


def test_unknown_artifact_type_lists_the_allowed_ones(api, task):
    body = {"taskId": str(task.id), "message": "x", "artifacts": [{"type": "NOPE"}]}
    response = assert_error(post(api("developer"), body), 400, "VALIDATION_ERROR")
    assert "PULL_REQUEST" in str(response["details"])


def test_empty_message_without_artifacts_or_attachments_is_400(api, task):
    assert_error(
        post(api("developer"), {"taskId": str(task.id), "message": "  "}), 400, "VALIDATION_ERROR"
    )


@pytest.mark.parametrize(
    "path",
    [
        "../etc/passwd",
        "uploads/../../secret",
        "a/./b",
        "a//b",
        "/etc/passwd",
        "http://evil.example.com/x.png",
        "file:///etc/passwd",
        "s3://bucket/key",
        "C:/Windows/win.ini",
        "a\\..\\b",
        "a\x00b",
        "",
    ],
)
def test_attachment_paths_that_escape_or_name_a_scheme_are_refused(api, task, path):
    attachment = {"path": path, "filename": "x", "mimeType": "text/plain", "size": 1}
    body = {"taskId": str(task.id), "message": "x", "attachments": [attachment]}
    assert_error(post(api("developer"), body), 400, "VALIDATION_ERROR")
    assert not ChatMessage.objects.exists()
    assert not Attachment.objects.exists()


def test_attachment_naming_a_missing_upload_is_refused(api, task):
    path = f"uploads/{task.workspace_id}/nope/x.png"
    attachment = {"path": path, "filename": "x.png", "mimeType": "image/png", "size": 1}
    body = {"taskId": str(task.id), "message": "x", "attachments": [attachment]}
    assert_error(post(api("developer"), body), 400, "VALIDATION_ERROR")


def test_attachment_naming_another_workspaces_upload_is_refused(api, task, people):
    path = stored_upload(people.elsewhere.id)
    attachment = {"path": path, "filename": "shot.png", "mimeType": "image/png", "size": 9}
    body = {"taskId": str(task.id), "message": "x", "attachments": [attachment]}
    assert_error(post(api("developer"), body), 400, "VALIDATION_ERROR")
    assert not Attachment.objects.exists()


def test_reply_id_must_be_a_message_of_the_same_task(api, task, other_task):
    foreign = services.post_message(task=other_task, message="elsewhere").message
    body = {"taskId": str(task.id), "message": "x", "replyId": str(foreign.id)}
    assert_error(post(api("developer"), body), 400, "VALIDATION_ERROR")
    assert not ChatMessage.objects.filter(task=task).exists()


def form_question(task):
    return services.post_assistant_message(
        task,
        "Which browser?",
        artifacts=[
            services.ArtifactInput(
                type=ArtifactType.FORM,
                content={"actionText": "Pick one", "options": [{"optionLabel": "Chrome"}]},
            )
        ],
    )


def test_assistant_form_makes_the_task_wait_and_a_reply_answers_it(api, task):
    question = form_question(task)
    task.refresh_from_db()
    assert task.awaiting_input is True

    body = {"taskId": str(task.id), "message": "Chrome", "replyId": str(question.id)}
    reply = expect(post(api("developer"), body), 201)["message"]

    assert reply["replyId"] == str(question.id)
    task.refresh_from_db()
    assert task.awaiting_input is False
    form = Artifact.objects.get(message=question)
    assert form.answered_at is not None


def test_a_message_that_does_not_reply_leaves_the_form_waiting(api, task):
    form_question(task)
    expect(post(api("developer"), {"taskId": str(task.id), "message": "hmm?"}), 201)
    task.refresh_from_db()
    assert task.awaiting_input is True
    assert Artifact.objects.get().answered_at is None


def test_replying_to_an_older_form_keeps_waiting_on_the_newest(api, task):
    older = form_question(task)
    form_question(task)
    body = {"taskId": str(task.id), "message": "late answer", "replyId": str(older.id)}
    expect(post(api("developer"), body), 201)
    task.refresh_from_db()
    assert task.awaiting_input is True
    assert Artifact.objects.filter(answered_at__isnull=True).count() == 1


def test_an_assistant_message_without_form_ends_the_wait(task):
    form_question(task)
    services.post_assistant_message(task, "Never mind, I found it.")
    task.refresh_from_db()
    assert task.awaiting_input is False
    assert task.message_count == 2


def test_assistant_messages_do_not_ask_the_robot_again(task):
    services.post_assistant_message(task, "Done.")
    assert not TaskRun.objects.exists()
    task.refresh_from_db()
    assert task.workflow_status is None


def test_a_user_message_to_an_idle_task_queues_a_run(api, task):
    expect(post(api("developer"), {"taskId": str(task.id), "message": "go"}), 201)
    task.refresh_from_db()
    assert task.workflow_status == WorkflowStatus.PENDING
    assert TaskRun.objects.filter(task=task).count() == 1


@pytest.mark.parametrize("status", [WorkflowStatus.PENDING, WorkflowStatus.IN_PROGRESS])
def test_a_message_to_a_busy_task_is_stored_not_rejected(api, task, status):
    TaskRun.objects.create(task=task, number=1, status=status)
    Task.objects.filter(pk=task.pk).update(workflow_status=status)
    response = post(api("developer"), {"taskId": str(task.id), "message": "also this"})
    expect(response, 201)
    assert ChatMessage.objects.filter(task=task).count() == 1
    task.refresh_from_db()
    assert task.workflow_status == status
    # A queued run answers the new message too; a running one gets a next turn behind it.
    statuses = list(TaskRun.objects.filter(task=task).values_list("status", flat=True))
    if status == WorkflowStatus.PENDING:
        assert statuses == [WorkflowStatus.PENDING]
    else:
        assert statuses == [WorkflowStatus.IN_PROGRESS, WorkflowStatus.PENDING]


def test_trailing_slash_works_for_post(api, task):
    expect(
        api("developer").post(URL + "/", {"taskId": str(task.id), "message": "x"}, format="json"),
        201,
    )


def test_a_body_beyond_any_valid_message_is_413_unread(api, task):
    huge = {
        "taskId": str(task.id),
        "message": "x",
        "artifacts": [{"type": "CODE"}],
        "pad": "x" * (3 * 1024 * 1024),
    }
    assert_error(post(api("developer"), huge), 413, "PAYLOAD_TOO_LARGE")
    assert not ChatMessage.objects.exists()


def test_a_message_at_every_limit_at_once_is_accepted(api, task):
    artifact = {"type": "CODE", "content": {"code": "x" * (64 * 1024 - 20)}}
    attachment = {"path": "a/b.png", "filename": "b.png", "mimeType": "image/png", "size": 1}
    body = {
        "taskId": str(task.id),
        "message": "m" * (32 * 1024),
        "artifacts": [artifact] * 20,
        "attachments": [attachment] * 20,
    }
    expect(post(api("developer"), body), 201)
    assert Artifact.objects.count() == 20
