"""Throttles beyond DRF's: a rate per viewset action for what is costly or sensitive
(creating tokens, posting chat messages, starting runs), and the per-user and per-IP
rates of every request counted in two fixed windows instead of DRF's list of
timestamps."""

from contextlib import suppress
from typing import Any

from rest_framework import throttling
from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle


class ActionThrottle(ScopedRateThrottle):
    """Throttles the actions a viewset names in `throttle_scopes` ({action: scope}), per
    user (per IP when anonymous), at the scope's rate in DEFAULT_THROTTLE_RATES."""

    def allow_request(self, request: Request, view: Any) -> bool:
        scopes: dict[str, str] = getattr(view, "throttle_scopes", {})
        scope = scopes.get(getattr(view, "action", None) or "")
        if scope is None:
            return True
        view.throttle_scope = scope
        return super().allow_request(request, view)


class WindowCounter:
    """A rate over `duration` seconds counted as this fixed window's requests plus the
    previous window's, weighted by the share of it the sliding window still covers (an
    estimate of the sliding count that never lets a burst through at a window's edge).

    DRF's own throttles read and write the list of every request's time in the window on
    each request: at the per-user rate of 100,000/min, up to 800 KB each way, growing
    with the traffic. Here a request is one cache round trip (on Redis, INCR and GET in
    a pipeline: config.cache.FailOpenRedisCache.hit) over two integers. A refused
    request is not counted, as in DRF."""

    cache: Any
    rate: str | None
    num_requests: int
    duration: int
    key: str | None

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if self.key is None:
            return True
        window, self.elapsed = divmod(self.timer(), self.duration)  # type: ignore[attr-defined]
        current = f"{self.key}:{int(window)}"
        count, self.previous = hit(self.cache, current, f"{self.key}:{int(window) - 1}", self)
        self.before = count - 1  # this window's requests before this one
        if self.previous * (1 - self.elapsed / self.duration) + self.before < self.num_requests:
            return True
        with suppress(ValueError):  # expired meanwhile: nothing to take back
            self.cache.decr(current)
        return False

    def wait(self) -> float:
        """Seconds until the weighted count falls below the rate."""
        rate, duration = self.num_requests, self.duration
        if self.before < rate:  # the previous window's share has to shrink
            share = duration * (1 - (rate - self.before) / self.previous)
            return max(share - self.elapsed, 0.0)
        # Next window, this one's requests are the previous window's.
        return duration - self.elapsed + duration * (1 - rate / self.before)


def hit(cache: Any, key: str, previous_key: str, throttle: WindowCounter) -> tuple[int, int]:
    """Counts one more request at `key` and reads the count at `previous_key`."""
    timeout = 2 * throttle.duration  # the next window reads it as its previous
    counting = getattr(cache, "hit", None)
    if counting is not None:  # Redis: one round trip
        return counting(key, previous_key, timeout)  # type: ignore[no-any-return]
    if cache.add(key, 1, timeout):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout)
            count = 1
    return count, int(cache.get(previous_key) or 0)


class UserRateThrottle(WindowCounter, throttling.UserRateThrottle):
    """DRF's per-user rate (`user`), counted in windows."""


class AnonRateThrottle(WindowCounter, throttling.AnonRateThrottle):
    """DRF's per-IP rate of anonymous callers (`anon`), counted in windows."""
