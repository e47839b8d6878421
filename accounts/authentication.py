from typing import Any

from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import ApiToken


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` with an API token (stored hashed)."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:  # type: ignore[override]
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        return authenticate_token(header[1])

    def authenticate_header(self, request: HttpRequest) -> str:
        return self.keyword


class QueryTokenAuthentication(BearerTokenAuthentication):
    """`?token=<token>`: only for EventSource clients that cannot set headers (SSE)."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:  # type: ignore[override]
        found = super().authenticate(request)
        if found is not None:
            return found
        token = request.query_params.get("token")
        return authenticate_token(token) if token else None


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
