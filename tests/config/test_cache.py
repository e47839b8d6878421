"""A Redis outage does not fail requests: the cache holds only throttle histories and
token stamps, so it fails open (config.cache)."""

import asyncio
import json
import logging

import pytest
from django.core.cache import cache
from django.http import JsonResponse
from django.urls import path

from config.cache import FailOpenRedisCache
from config.handler import ASGIHandler
from tests.config.test_handler import exchange

DEAD_REDIS = {
    "default": {
        "BACKEND": "config.cache.FailOpenRedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


@pytest.fixture(autouse=True)
def no_outage_yet(monkeypatch):
    monkeypatch.setattr(FailOpenRedisCache, "down", False)


def test_the_api_answers_while_redis_is_down(api, settings, caplog):
    settings.CACHES = DEAD_REDIS
    with caplog.at_level(logging.WARNING, logger="taskdesk.cache"):
        for _ in range(3):
            response = api("owner").get("/api/auth/me")
            assert response.status_code == 200, response.content
    warnings = [r for r in caplog.records if r.name == "taskdesk.cache"]
    assert len(warnings) == 1  # once per outage, not per request
    assert "fail open" in warnings[0].getMessage()


def test_a_dead_cache_is_a_miss_and_drops_writes(settings):
    settings.CACHES = DEAD_REDIS
    cache.set("k", 1)
    assert cache.get("k", "missing") == "missing"
    assert cache.add("k", 1) is False
    assert cache.delete("k") is False
    assert cache.hit("k", "before", 60) == (0, 0)  # a throttle's count: let through


def test_a_live_redis_cache_still_stores(settings):
    url = settings.REDIS_URL or "redis://127.0.0.1:6379/15"
    settings.CACHES = {"default": {"BACKEND": "config.cache.FailOpenRedisCache", "LOCATION": url}}
    cache.set("fail-open-test", 41)
    assert cache.get("fail-open-test") == 41
    cache.delete("fail-open-test")


def test_one_redis_client_serves_every_command(settings):
    url = settings.REDIS_URL or "redis://127.0.0.1:6379/15"
    settings.CACHES = {"default": {"BACKEND": "config.cache.FailOpenRedisCache", "LOCATION": url}}
    client = cache._cache.get_client("a", write=True)
    assert cache._cache.get_client("b", write=True) is client
    assert cache.hit("fail-open-hits", "fail-open-none", 5) == (1, 0)
    assert cache.hit("fail-open-hits", "fail-open-none", 5) == (2, 0)
    cache.delete("fail-open-hits")


def connection_id(request):
    """The id Redis gave the connection this request's cache commands go through."""
    cache.get("any")
    client = cache._cache.get_client(write=True)
    return JsonResponse({"connection": client.client_id()})


urlpatterns = [path("connection", connection_id)]


async def connection_of(handler: ASGIHandler) -> int:
    status, body = await exchange(handler, "/connection")
    assert status == 200, body
    return int(json.loads(body)["connection"])


@pytest.mark.urls("tests.config.test_cache")
@pytest.mark.django_db(transaction=True)
def test_requests_under_asgi_share_the_processs_redis_connections(settings):
    """Django's cache handler is context-local: under ASGI each request builds its own
    backend. Each one opened a Redis connection of its own, which the next request did not
    reuse; they now share one pool."""
    url = settings.REDIS_URL or "redis://127.0.0.1:6379/15"
    settings.CACHES = {"default": {"BACKEND": "config.cache.FailOpenRedisCache", "LOCATION": url}}
    handler = ASGIHandler()

    async def four() -> list[int]:
        return [await connection_of(handler) for _ in range(4)]

    connections = asyncio.run(four())
    assert len(set(connections)) == 1, connections
