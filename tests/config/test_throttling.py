"""Throttles: wrong tokens per IP (before the 401), token creation, chat posts and
run-starting actions per user, every request per user counted in two windows, and
sign-in lockout (django-axes)."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiToken
from chat.models import ChatMessage
from config.throttling import UserRateThrottle
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


@pytest.fixture
def clock(monkeypatch):
    """The throttles' time, set by the test (seconds since the epoch)."""
    now = [6000.0]  # the start of a one-minute window
    monkeypatch.setattr(UserRateThrottle, "timer", lambda self: now[0])
    return now


def test_the_user_rate_counts_this_window_and_the_previous_ones_remaining_share(rates, api, clock):
    rates("user", "3/min")
    client = api("viewer")
    clock[0] += 50
    for _ in range(3):
        expect(client.get("/api/auth/me"), 200)
    refused = client.get("/api/auth/me")
    assert_error(refused, 429, "THROTTLED")
    # Until the next window, whose share of these 3 falls below 3 at once; refused
    # requests do not count.
    assert int(refused["Retry-After"]) == 10
    clock[0] += 40  # 30 s into the next window: the previous 3 weigh 1.5
    expect(client.get("/api/auth/me"), 200)  # 1.5 before it
    expect(client.get("/api/auth/me"), 200)  # 2.5 before it
    assert_error(client.get("/api/auth/me"), 429, "THROTTLED")  # 3.5 before it
    clock[0] += 25  # 55 s in: 3 x 5/60 + 2 = 2.25 before it
    expect(client.get("/api/auth/me"), 200)
    assert_error(client.get("/api/auth/me"), 429, "THROTTLED")
    # Another user has a rate of their own.
    expect(api("developer").get("/api/auth/me"), 200)


def test_the_user_rate_keeps_two_numbers_whatever_the_traffic(rates, api, people, clock):
    rates("user", "1000/min")
    client = api("viewer")
    for _ in range(30):
        expect(client.get("/api/auth/me"), 200)
    key = f"throttle_user_{people['viewer'].pk}:100"
    assert cache.get(key) == 30
    assert cache.get(f"throttle_user_{people['viewer'].pk}:99") is None
