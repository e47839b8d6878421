"""The chat admin: messages with their artifacts and attachments; the Task inline."""

import pytest
from django.contrib import admin
from django.test import RequestFactory

from chat import services
from chat.admin import ChatMessageInline
from chat.models import ArtifactType
from tasks.models import Task
from tests.factories import UserFactory, thread


def staff_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_message_admin_lists_and_shows_a_message_with_artifacts_and_attachments(client, task):
    message = services.post_assistant_message(
        task,
        "Pick one",
        artifacts=[services.ArtifactInput(type=ArtifactType.FORM, content={"q": "?"})],
        attachments=[
            services.AttachmentInput(
                path="screens/a.png", filename="a.png", mime_type="image/png", size=3
            )
        ],
    )
    staff = staff_client(client)
    listing = staff.get("/admin/chat/chatmessage/")
    assert listing.status_code == 200
    assert b"Pick one" in listing.content
    page = staff.get(f"/admin/chat/chatmessage/{message.pk}/change/")
    assert page.status_code == 200
    assert b"a.png" in page.content
    assert b"FORM" in page.content


def test_message_admin_is_for_staff_only(client, people):
    client.force_login(people["owner"])
    response = client.get("/admin/chat/chatmessage/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_task_inline_shows_the_newest_50_messages_read_only(task):
    thread(task, 60, with_details=False)
    request = RequestFactory().get("/")
    request.user = UserFactory(username="root", is_staff=True, is_superuser=True)
    inline = ChatMessageInline(Task, admin.site)
    formset_class = inline.get_formset(request, task)
    formset = formset_class(instance=task, queryset=inline.get_queryset(request))

    shown = [form.instance.message for form in formset.forms]
    assert shown == [f"message {i}" for i in range(59, 9, -1)]
    assert not inline.has_add_permission(request, task)
    assert not inline.has_change_permission(request, task)
    assert not inline.has_delete_permission(request, task)
    assert set(inline.get_readonly_fields(request, task)) >= {"message", "role", "timestamp"}


@pytest.mark.urls("tests.chat.admin_site")
def test_task_change_page_renders_the_message_inline(client, task):
    thread(task, 55, with_details=False)
    response = staff_client(client).get(f"/admin/tasks/task/{task.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Chat messages (newest 50)" in html
    assert "message 54" in html
    assert "message 4<" not in html  # older than the newest 50
