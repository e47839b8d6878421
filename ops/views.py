"""/healthz, /readyz and /metrics: for load balancers, orchestrators and Prometheus.

Plain Django views outside /api/: no authentication, session or throttle (a probe every
few seconds must not touch the users' tables); /metrics alone is guarded, by
METRICS_TOKEN when set, else by coming from the loopback.
"""

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from config.exceptions import envelope
from ops.collectors import DatabaseCollector
from ops.health import readiness


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers: nothing else is checked (no I/O)."""
    return JsonResponse({"status": "ok"})


@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    ready, body = readiness()
    return JsonResponse(body, status=200 if ready else 503)


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        return JsonResponse(
            envelope("Metrics need METRICS_TOKEN, or a request from the loopback.", "FORBIDDEN"),
            status=403,
        )
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # every process's counters, summed
    registry.register(DatabaseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def may_scrape(request: HttpRequest) -> bool:
    if settings.METRICS_TOKEN:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), settings.METRICS_TOKEN.encode())
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "").is_loopback
    except ValueError:
        return False
