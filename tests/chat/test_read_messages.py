"""GET /api/tasks/{id}/messages and GET /api/chat/messages/{id}."""

import pytest

from chat import services
from chat.models import ChatMessage
from tasks.models import Task
from tests.factories import TaskFactory, thread
from tests.personas import PERSONAS, READ, assert_error, expect


def messages_url(task_id, query=""):
    return f"/api/tasks/{task_id}/messages{query}"


@pytest.mark.parametrize("persona", PERSONAS)
def test_message_list_is_readable_by_every_member(api, task, persona):
    thread(task, 3)
    body = expect(api(persona).get(messages_url(task.id)), READ[persona])
    if READ[persona] == 200:
        data = body["data"]
        assert data["task"] == {
            "id": str(task.id),
            "title": "Fix the login page",
            "workspaceId": str(task.workspace_id),
            "workflowStatus": None,
            "state": None,
            "mode": "agent",
            "podId": None,
            "updatedAt": data["task"]["updatedAt"],
        }
        assert [m["message"] for m in data["messages"]] == ["message 0", "message 1", "message 2"]
        assert data["count"] == 3
        assert data["hasMore"] is False


@pytest.mark.parametrize("persona", PERSONAS)
def test_message_detail_is_readable_by_every_member(api, task, persona):
    (message,) = thread(task, 1)
    body = expect(api(persona).get(f"/api/chat/messages/{message.id}"), READ[persona])
    if READ[persona] == 200:
        assert body["data"]["id"] == str(message.id)
        assert body["data"]["artifacts"][0]["content"] == {"code": "message 0"}


def test_unknown_deleted_and_malformed_ids_are_404(api, task):
    (message,) = thread(task, 1)
    client = api("developer")
    unknown = "00000000-0000-0000-0000-000000000000"
    assert_error(client.get(messages_url(unknown)), 404, "NOT_FOUND")
    assert_error(client.get(f"/api/chat/messages/{unknown}"), 404, "NOT_FOUND")
    assert_error(client.get(messages_url("abc")), 404, "NOT_FOUND")
    assert_error(client.get("/api/chat/messages/abc"), 404, "NOT_FOUND")
    Task.objects.filter(pk=task.pk).update(deleted=True)
    assert_error(client.get(messages_url(task.id)), 404, "NOT_FOUND")
    assert_error(client.get(f"/api/chat/messages/{message.id}"), 404, "NOT_FOUND")


def test_messages_of_other_workspaces_are_404(api, other_task):
    (message,) = thread(other_task, 1)
    client = api("developer")
    assert_error(client.get(messages_url(other_task.id)), 404, "NOT_FOUND")
    assert_error(client.get(f"/api/chat/messages/{message.id}"), 404, "NOT_FOUND")


def test_default_page_is_the_newest_100_oldest_first_and_count_is_the_total(api, task):
    thread(task, 130, with_details=False)
    data = expect(api("viewer").get(messages_url(task.id)), 200)["data"]
    assert [m["message"] for m in data["messages"]] == [f"message {i}" for i in range(30, 130)]
    assert data["count"] == 130
    assert data["hasMore"] is True


def test_before_pages_back_and_after_catches_up(api, task):
    messages = thread(task, 10, with_details=False)
    client = api("viewer")

    older = expect(client.get(messages_url(task.id, f"?limit=3&before={messages[5].id}")), 200)
    assert [m["message"] for m in older["data"]["messages"]] == [
        "message 2",
        "message 3",
        "message 4",
    ]
    assert older["data"]["hasMore"] is True

    newer = expect(client.get(messages_url(task.id, f"?limit=3&after={messages[5].id}")), 200)
    assert [m["message"] for m in newer["data"]["messages"]] == [
        "message 6",
        "message 7",
        "message 8",
    ]
    assert newer["data"]["hasMore"] is True

    last = expect(client.get(messages_url(task.id, f"?after={messages[8].id}")), 200)
    assert [m["message"] for m in last["data"]["messages"]] == ["message 9"]
    assert last["data"]["hasMore"] is False
    assert last["data"]["count"] == 10


def test_messages_with_the_same_timestamp_page_by_id(api, task):
    messages = thread(task, 7, with_details=False)
    ChatMessage.objects.filter(task=task).update(timestamp=messages[0].timestamp)
    # Canonical UUID text sorts as the UUIDs do, on SQLite and PostgreSQL alike.
    expected = sorted(str(m.id) for m in messages)
    client = api("viewer")
    data = expect(client.get(messages_url(task.id, "?limit=2")), 200)["data"]
    seen = [m["id"] for m in data["messages"]]
    while data["hasMore"]:
        query = f"?limit=2&before={data['messages'][0]['id']}"
        data = expect(client.get(messages_url(task.id, query)), 200)["data"]
        seen = [m["id"] for m in data["messages"]] + seen
    assert seen == expected


@pytest.mark.parametrize(
    "query",
    ["?limit=0", "?limit=501", "?limit=abc", "?before=abc", "?after=nope"],
)
def test_bad_paging_values_are_400(api, task, query):
    assert_error(api("viewer").get(messages_url(task.id, query)), 400, "VALIDATION_ERROR")


def test_paging_by_a_message_of_another_task_is_400(api, task, workspace):
    (foreign,) = thread(TaskFactory(workspace=workspace), 1)
    assert_error(
        api("viewer").get(messages_url(task.id, f"?before={foreign.id}")), 400, "VALIDATION_ERROR"
    )


def test_limit_500_is_allowed(api, task):
    thread(task, 2)
    expect(api("viewer").get(messages_url(task.id, "?limit=500")), 200)


def test_message_list_takes_the_same_queries_for_1_and_100_messages(
    api, task, workspace, django_assert_num_queries
):
    small = TaskFactory(workspace=workspace)
    thread(small, 1)
    thread(task, 100)
    client = api("viewer")
    client.get(messages_url(small.id))  # the token's last-use stamp is written once

    # token, roles, task, count, messages + authors, artifacts, attachments
    with django_assert_num_queries(7):
        expect(client.get(messages_url(small.id)), 200)
    with django_assert_num_queries(7):
        data = expect(client.get(messages_url(task.id)), 200)["data"]
    assert len(data["messages"]) == 100
    assert all(m["artifacts"] and m["attachments"] for m in data["messages"])


def test_a_posted_message_counts_in_both_endpoints(api, task, people):
    posted = services.post_message(task=task, message="hello", author=people["developer"]).message
    client = api("viewer")
    listed = expect(client.get(messages_url(task.id)), 200)["data"]
    detail = expect(client.get(f"/api/chat/messages/{posted.id}"), 200)["data"]
    assert listed["messages"] == [detail]
    task.refresh_from_db()
    assert listed["count"] == task.message_count == 1


def test_assistant_messages_have_no_author(api, task):
    posted = services.post_assistant_message(task, "Done.")
    data = expect(api("viewer").get(f"/api/chat/messages/{posted.id}"), 200)["data"]
    assert data["role"] == "ASSISTANT"
    assert data["createdBy"] is None


def test_message_serializer_without_a_request_gives_a_relative_download_url(task):
    from chat.selectors import messages_with_details
    from chat.serializers import MessageSerializer

    (message,) = thread(task, 1)
    data = MessageSerializer(messages_with_details().get(pk=message.pk)).data
    (attachment,) = data["attachments"]
    assert attachment["url"] == f"/api/chat/attachments/{attachment['id']}/download"


def test_a_thread_without_messages_counts_zero(api, task):
    data = expect(api("viewer").get(messages_url(task.id)), 200)["data"]
    assert (data["messages"], data["count"], data["hasMore"]) == ([], 0, False)
