"""Throttles: wrong tokens per IP (before the 401), token creation, chat posts and
run-starting actions per user, and sign-in lockout (django-axes)."""

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiToken
from chat.models import ChatMessage
from tests.factories import TaskFactory
from tests.personas import assert_error, expect


@pytest.fixture
def rates(monkeypatch):
    """Sets throttle rates for this test (DRF reads them once per process)."""

    def set_rate(scope, rate):
        monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, scope, rate)

    return set_rate


def test_wrong_tokens_from_one_ip_turn_into_429_before_any_check(rates, api, people):
    rates("auth_failures", "3/min")
    guesser = APIClient()
    guesser.credentials(HTTP_AUTHORIZATION="Bearer td_wrongwrongwrongwrong")
    for _ in range(3):
        assert_error(guesser.get("/api/auth/me"), 401, "UNAUTHENTICATED")
    refused = guesser.get("/api/auth/me")
    assert_error(refused, 429, "THROTTLED")
    assert int(refused["Retry-After"]) >= 1
    # The same IP with a right token waits too: guessing is what the limit is for.
    assert_error(api("viewer").get("/api/auth/me"), 429, "THROTTLED")


def test_a_right_token_is_not_counted(rates, api):
    rates("auth_failures", "2/min")
    client = api("viewer")
    for _ in range(5):
        expect(client.get("/api/auth/me"), 200)


def test_token_creation_is_throttled_per_user(rates, api, people):
    rates("tokens", "2/min")
    client = api("developer")
    for n in range(2):
        expect(client.post("/api/auth/tokens", {"name": f"t{n}"}, format="json"), 201)
    assert_error(client.post("/api/auth/tokens", {"name": "t3"}, format="json"), 429, "THROTTLED")
    assert not ApiToken.objects.filter(name="t3").exists()
    # Another user has a budget of their own.
    expect(api("admin").post("/api/auth/tokens", {"name": "mine"}, format="json"), 201)


def test_chat_posts_are_throttled_per_user_and_store_nothing_past_the_rate(rates, api, workspace):
    rates("chat", "2/min")
    task = TaskFactory(workspace=workspace)
    client = api("developer")
    for n in range(2):
        body = {"taskId": str(task.id), "message": f"m{n}"}
        expect(client.post("/api/chat/message", body, format="json"), 201)
    body = {"taskId": str(task.id), "message": "too many"}
    assert_error(client.post("/api/chat/message", body, format="json"), 429, "THROTTLED")
    assert not ChatMessage.objects.filter(message="too many").exists()


def test_retries_are_throttled_per_user(rates, api, workspace):
    rates("runs", "1/min")
    task = TaskFactory(workspace=workspace, workflow_status="FAILED")
    client = api("developer")
    assert client.post(f"/api/tasks/{task.id}/retry").status_code in (202, 409)
    assert_error(client.post(f"/api/tasks/{task.id}/retry"), 429, "THROTTLED")


def test_admin_sign_in_locks_out_after_repeated_failures(client, people, settings):
    settings.AXES_FAILURE_LIMIT = 3
    owner = people["owner"]
    owner.is_staff = True
    owner.save()
    for _ in range(3):
        client.post("/admin/login/?next=/admin/", {"username": "owner", "password": "wrong"})
    locked = client.post(
        "/admin/login/?next=/admin/",
        {"username": "owner", "password": "correct horse battery staple"},
    )
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
