import logging
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from config import logs, metrics

access_logger = logging.getLogger("taskdesk.requests")


class RequestIdMiddleware:
    """Tags every request with an id (kept from X-Request-ID when sent) for logs, errors and
    the runs it queues; the id is also the `request_id` of every record logged meanwhile."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        valid = incoming and incoming.isprintable()
        request.request_id = incoming[:64] if valid else uuid.uuid4().hex  # type: ignore[attr-defined]
        with logs.log_context(request.request_id):  # type: ignore[attr-defined]
            response = self.get_response(request)
            response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
            return response


class RequestMetricsMiddleware:
    """One log line and the HTTP metrics per request, labelled by route pattern (bounded),
    never by path."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route = self.route(request)
        method = request.method if request.method in KNOWN_METHODS else "OTHER"
        metrics.http_requests.labels(route, method, str(response.status_code)).inc()
        metrics.http_request_duration.labels(route, method).observe(elapsed)
        if route not in QUIET_ROUTES:  # (a probe must not read the session either)
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                logs.user_id.set(str(user.pk))
            access_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
        return response

    @staticmethod
    def route(request: HttpRequest) -> str:
        match = getattr(request, "resolver_match", None)
        if match is None or not match.route:
            return "<unmatched>"
        return "/" + match.route.lstrip("^").rstrip("$")


KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
# Probes and scrapes answer every few seconds: counted, not logged.
QUIET_ROUTES = {"/healthz", "/readyz", "/metrics"}


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
