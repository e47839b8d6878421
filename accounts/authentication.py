"""API tokens, in the Authorization header or (for EventSource) in the query string.

Wrong tokens are counted per client IP before the 401 is answered: past the
`auth_failures` rate the answer is 429, so guessing tokens costs time even for a client
that never authenticates (DRF's own throttles run only after authentication)."""

import time
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiToken


class FailedTokenThrottle(SimpleRateThrottle):
    """The wrong tokens one IP sent in the `auth_failures` window."""

    scope = "auth_failures"
    num_requests: int  # set from the rate by SimpleRateThrottle.__init__
    duration: int

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def refuse_if_exceeded(self, request: Any) -> None:
        self.key = self.get_cache_key(request, None)
        self.now = time.time()
        self.history = [t for t in cache.get(self.key, []) if t > self.now - self.duration]
        if len(self.history) >= self.num_requests:
            raise exceptions.Throttled(wait=self.wait())

    def record(self) -> None:
        self.history.insert(0, self.now)
        cache.set(self.key, self.history, self.duration)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` with an API token (stored hashed)."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:  # type: ignore[override]
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        return counted(request, header[1])

    def authenticate_header(self, request: HttpRequest) -> str:
        return self.keyword


class QueryTokenAuthentication(BearerTokenAuthentication):
    """`?token=<token>`: only for EventSource clients that cannot set headers (SSE)."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:  # type: ignore[override]
        found = super().authenticate(request)
        if found is not None:
            return found
        token = request.query_params.get("token")
        return counted(request, token) if token else None


def counted(request: Request, raw: str) -> tuple[Any, Any]:
    """`authenticate_token`, refused with 429 for an IP past its rate of wrong tokens."""
    throttle = FailedTokenThrottle()
    throttle.refuse_if_exceeded(request)
    try:
        return authenticate_token(raw)
    except exceptions.AuthenticationFailed:
        throttle.record()
        raise


def authenticate_token(raw: str) -> tuple[Any, Any]:
    token = ApiToken.objects.authenticate(raw)
    if token is None:
        raise exceptions.AuthenticationFailed("Invalid, revoked or expired token.")
    return token.user, token


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An API token (td_...)."}


class QueryTokenScheme(OpenApiAuthenticationExtension):
    target_class = QueryTokenAuthentication
    name = "queryToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "query", "name": "token"}
