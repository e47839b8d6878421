"""The cache, kept in Redis when REDIS_URL is set, and what happens when Redis is down.

The cache holds only what can be lost: throttle counts and histories, and the stamps of
tokens' last use. So a Redis outage must not fail requests: every read is a miss and
every write is dropped (throttles let requests through meanwhile, i.e. fail open), with
one warning per outage in the log, and short socket timeouts so that a dead Redis costs
little time.
"""

import logging
import threading
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property
from redis.exceptions import ConnectionError, TimeoutError

logger = logging.getLogger("taskdesk.cache")
REDIS_DOWN = (ConnectionError, TimeoutError)


class ReusedClients(RedisCacheClient):
    """Django's Redis client builds a `redis.Redis` per command (filling its table of
    ~160 response callbacks each time: a fifth of a millisecond per command, two or
    three commands a request); one per connection pool does (they are thread-safe)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


# The process's clients, one per cache configuration (servers and options).
_process_clients: dict[tuple[tuple[str, ...], str], ReusedClients] = {}
_clients_lock = threading.Lock()


class FailOpenRedisCache(RedisCache):
    down = False

    @cached_property
    def _cache(self) -> ReusedClients:
        """One client, and so one connection pool, for the whole process. Django's cache
        handler is context-local: under ASGI each request builds its own cache backend,
        and RedisCache's client (with its connection pool) with it, so every request
        opened a Redis connection of its own (a TCP connect and the client's SETINFO
        commands) and dropped it (measured through daphne: one connection a request)."""
        servers: list[str] = self._servers  # type: ignore[attr-defined]
        options: dict[str, Any] = self._options  # type: ignore[attr-defined]
        key = (tuple(servers), repr(sorted(options.items())))
        with _clients_lock:
            client = _process_clients.get(key)
            if client is None:
                client = _process_clients[key] = ReusedClients(servers, **options)
        return client

    def _failed(self, error: Exception) -> None:
        if not FailOpenRedisCache.down:
            logger.warning("The cache (Redis) is unreachable, throttles fail open: %s", error)
        FailOpenRedisCache.down = True

    def _ok(self) -> None:
        if FailOpenRedisCache.down:
            logger.warning("The cache (Redis) answers again")
        FailOpenRedisCache.down = False

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            value = super().get(key, default, version)
        except REDIS_DOWN as error:
            self._failed(error)
            return default
        self._ok()
        return value

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        try:
            super().set(key, value, timeout, version)
        except REDIS_DOWN as error:
            self._failed(error)

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except REDIS_DOWN as error:
            self._failed(error)
            return False

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except REDIS_DOWN as error:
            self._failed(error)
            return False

    def hit(self, key: Any, previous_key: Any, timeout: int) -> tuple[int, int]:
        """Counts one more at `key` (kept `timeout` seconds) and reads the count at
        `previous_key`, in one round trip: (the new count, the other count)."""
        current, previous = (
            self.make_and_validate_key(key),
            self.make_and_validate_key(previous_key),
        )
        try:
            pipeline = self._cache.get_client(current, write=True).pipeline(transaction=False)
            pipeline.incr(current)
            pipeline.expire(current, timeout)
            pipeline.get(previous)
            count, _, before = pipeline.execute()
        except REDIS_DOWN as error:
            self._failed(error)
            return 0, 0
        self._ok()
        return int(count), int(before or 0)

    def decr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        try:
            return super().decr(key, delta, version)
        except REDIS_DOWN as error:
            self._failed(error)
            return 0
