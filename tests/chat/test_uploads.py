"""POST /api/uploads and the attachment download URL."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from chat.models import Attachment
from tests.personas import PERSONAS, READ, WRITE, assert_error, expect


def upload(client, workspace_id, name="notes.txt", content=b"hello file", mime="text/plain"):
    file = SimpleUploadedFile(name, content, content_type=mime)
    body = {"workspaceId": str(workspace_id), "file": file}
    return client.post("/api/uploads", body, format="multipart")


def attach(client, task, stored):
    body = {"taskId": str(task.id), "message": "see file", "attachments": [stored]}
    return expect(client.post("/api/chat/message", body, format="json"), 201)["message"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_upload_needs_developer(api, workspace, media, persona):
    status = 201 if WRITE[persona] == 200 else WRITE[persona]
    expect(upload(api(persona), workspace.id), status)
    stored = list(Path(media).rglob("*.txt")) if Path(media).exists() else []
    assert len(stored) == (1 if status == 201 else 0)


def test_upload_stores_under_the_workspace_and_answers_the_attachment_fields(api, workspace, media):
    data = expect(upload(api("developer"), workspace.id, content=b"0123456789"), 201)["data"]
    assert set(data) == {"path", "filename", "mimeType", "size"}
    assert data["path"].startswith(f"uploads/{workspace.id}/")
    assert data["path"].endswith("/notes.txt")
    assert (data["filename"], data["mimeType"], data["size"]) == ("notes.txt", "text/plain", 10)
    assert (Path(media) / data["path"]).read_bytes() == b"0123456789"


def test_upload_file_names_are_made_safe(api, workspace, media):
    data = expect(upload(api("developer"), workspace.id, name="../../etc/pass wd"), 201)["data"]
    assert data["filename"] == "pass_wd"
    assert ".." not in data["path"]
    assert (Path(media) / data["path"]).resolve().is_relative_to(Path(media).resolve())


def test_upload_over_the_cap_is_413_and_stores_nothing(api, workspace, media, settings):
    settings.UPLOAD_MAX_BYTES = 8
    assert_error(
        upload(api("developer"), workspace.id, content=b"123456789"), 413, "PAYLOAD_TOO_LARGE"
    )
    assert not Path(media).exists() or not any(Path(media).rglob("*.txt"))


def test_a_body_far_over_the_cap_is_refused_before_it_is_parsed(api, workspace, settings):
    settings.UPLOAD_MAX_BYTES = 1024
    response = upload(api("developer"), workspace.id, content=b"x" * 200_000)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_upload_to_another_workspace_is_404(api, people):
    assert_error(upload(api("developer"), people.elsewhere.id), 404, "NOT_FOUND")


def test_upload_without_file_or_workspace_is_400(api, workspace):
    client = api("developer")
    assert_error(
        client.post("/api/uploads", {"workspaceId": str(workspace.id)}, format="multipart"),
        400,
        "VALIDATION_ERROR",
    )
    file = SimpleUploadedFile("a.txt", b"a")
    assert_error(
        client.post("/api/uploads", {"file": file}, format="multipart"), 400, "VALIDATION_ERROR"
    )


def test_uploaded_file_attaches_and_downloads_through_its_url(api, task, workspace):
    client = api("developer")
    stored = expect(upload(client, workspace.id, content=b"file body"), 201)["data"]
    message = attach(client, task, stored)
    (attachment,) = message["attachments"]
    assert attachment["url"].endswith(f"/api/chat/attachments/{attachment['id']}/download")

    response = api("viewer").get(attachment["url"])
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"file body"
    assert response["Content-Type"] == "text/plain"
    assert 'attachment; filename="notes.txt"' in response["Content-Disposition"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_download_is_for_members_only(api, task, workspace, persona):
    stored = expect(upload(api("developer"), workspace.id), 201)["data"]
    attachment_id = attach(api("developer"), task, stored)["attachments"][0]["id"]
    response = api(persona).get(f"/api/chat/attachments/{attachment_id}/download")
    if READ[persona] == 200:
        assert response.status_code == 200
    else:
        expect(response, READ[persona])


def test_an_attachment_that_is_not_an_upload_has_nothing_to_download(api, task):
    stored = {"path": "screens/a.png", "filename": "a.png", "mimeType": "image/png", "size": 3}
    attachment_id = attach(api("developer"), task, stored)["attachments"][0]["id"]
    response = api("developer").get(f"/api/chat/attachments/{attachment_id}/download")
    assert_error(response, 404, "NOT_FOUND")


def test_a_removed_upload_is_404(api, task, workspace, media):
    client = api("developer")
    stored = expect(upload(client, workspace.id), 201)["data"]
    attachment_id = attach(client, task, stored)["attachments"][0]["id"]
    (Path(media) / stored["path"]).unlink()
    assert_error(client.get(f"/api/chat/attachments/{attachment_id}/download"), 404, "NOT_FOUND")


def test_unknown_attachment_is_404(api, db):
    response = api("developer").get(
        "/api/chat/attachments/00000000-0000-0000-0000-000000000000/download"
    )
    assert_error(response, 404, "NOT_FOUND")
    assert not Attachment.objects.exists()
