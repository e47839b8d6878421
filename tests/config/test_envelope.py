"""The one error envelope: every failure under /api/ is JSON in the contract's shape."""

import logging

import pytest
from django.urls import path
from rest_framework.test import APIRequestFactory
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from tests.personas import assert_error, expect


def test_unknown_api_path_is_a_json_404(client, db):
    assert_error(client.get("/api/no/such/thing"), 404, "NOT_FOUND")


def test_malformed_id_is_a_404(api, people):
    assert_error(api("owner").delete("/api/auth/tokens/123"), 404, "NOT_FOUND")


def test_validation_errors_list_fields(api, people):
    body = assert_error(
        api("owner").post("/api/workspaces", {}, format="json"), 400, "VALIDATION_ERROR"
    )
    assert body["details"] == {
        "slug": ["This field is required."],
        "name": ["This field is required."],
    }
    assert body["error"] == "slug: This field is required."


def test_malformed_json_is_a_400(api, people):
    response = api("owner").generic(
        "POST", "/api/workspaces", "{nope", content_type="application/json"
    )
    assert_error(response, 400, "VALIDATION_ERROR")


def test_wrong_method_is_enveloped(api, people):
    assert_error(api("owner").put("/api/auth/me", {}), 405, "METHOD_NOT_ALLOWED")


def test_trailing_slash_is_optional_without_redirect(api, people):
    assert expect(api("owner").get("/api/auth/me/"), 200)
    response = api("owner").post("/api/workspaces/", {"slug": "sl", "name": "S"}, format="json")
    assert response.status_code == 201


def test_paging_params_are_validated(api, people):
    client = api("owner")
    for query in ("page=abc", "page=0", "limit=0", "limit=100000", "limit=-1", "cursor=zzz"):
        body = assert_error(
            client.get(f"/api/workspaces/acme/members?{query}"), 400, "VALIDATION_ERROR"
        )
        assert query.split("=")[0] in body["details"]


def test_cursor_paging_walks_every_row_once(api, people):
    client = api("owner")
    seen, url = [], "/api/workspaces/acme/members?cursor=&limit=4"
    first = expect(client.get("/api/workspaces/acme/members?limit=4"), 200)
    seen += [m["user"]["username"] for m in first["data"]]
    cursor = first["pagination"]["nextCursor"]
    assert cursor and first["pagination"]["hasMore"] is True
    second = expect(client.get(f"/api/workspaces/acme/members?limit=4&cursor={cursor}"), 200)
    seen += [m["user"]["username"] for m in second["data"]]
    assert second["pagination"] == {"limit": 4, "hasMore": False, "nextCursor": None}
    assert sorted(seen) == sorted(["owner", "admin", "pm", "developer", "stakeholder", "viewer"])
    assert url  # the empty cursor means "first page"


class Boom(APIView):
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        raise RuntimeError("kaboom")


def test_unexpected_error_is_a_logged_500_envelope(caplog):
    request = APIRequestFactory().get("/api/boom")
    request.request_id = "req-123"
    with caplog.at_level(logging.ERROR, logger="taskdesk.errors"):
        response = Boom.as_view()(request)
    assert response.status_code == 500
    assert response.data == {
        "success": False,
        "error": "An unexpected error occurred.",
        "code": "INTERNAL_ERROR",
        "requestId": "req-123",
    }
    assert "req-123" in caplog.text and "kaboom" in caplog.text


def test_throttled_requests_get_429_with_retry_after(api, people, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"anon": None, "user": "2/min"})
    client = api("viewer")
    for _ in range(2):
        expect(client.get("/api/auth/me"), 200)
    response = client.get("/api/auth/me")
    assert_error(response, 429, "THROTTLED")
    assert int(response["Retry-After"]) > 0


def test_request_id_is_echoed(client, db):
    response = client.get("/api/auth/me", HTTP_X_REQUEST_ID="abc123")
    assert response["X-Request-ID"] == "abc123"


urlpatterns = [path("api/boom", Boom.as_view())]


@pytest.mark.urls("tests.config.test_envelope")
def test_500_through_the_full_stack_is_json(client, db):
    client.raise_request_exception = False
    response = client.get("/api/boom")
    assert_error(response, 500, "INTERNAL_ERROR")
