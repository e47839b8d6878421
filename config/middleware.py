import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class RequestIdMiddleware:
    """Tags every request with an id (kept from X-Request-ID when sent) for logs and errors."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        valid = incoming and incoming.isprintable()
        request.request_id = incoming[:64] if valid else uuid.uuid4().hex  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        return response


class OptionalTrailingSlashMiddleware:
    """`/api/tasks` and `/api/tasks/` both answer, with no redirect (not even for POST).

    API routes are declared without a trailing slash; this strips one before
    resolving, so no route needs declaring twice.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith("/api/") and path.endswith("/") and len(path) > len("/api/"):
            request.path_info = path.rstrip("/")
        return self.get_response(request)
