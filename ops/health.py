"""Readiness: each check says ok or fail, why, and how long it took.

Cheap and bounded: no check reads more than an index range (the outbox's unsent partial
index, capped at the threshold; the heartbeat table of a few rows). The database is
probed on a connection of its own with a short timeout, not through the pool, whose
wait for a connection (30 s) would outlast any probe.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, Min
from django.utils import timezone

from ops.models import Alert
from realtime.models import OutboxEvent
from runs import presence

logger = logging.getLogger("taskdesk.health")
PROBE_TIMEOUT_SECONDS = 2


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    latency_ms: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        state = "ok" if self.ok else "fail"
        return {"state": state, "detail": self.detail, "latencyMs": self.latency_ms, **self.facts}


def timed(name: str, probe: Callable[[], tuple[bool, str, dict[str, Any]]]) -> Check:
    started = time.perf_counter()
    try:
        ok, detail, facts = probe()
    except Exception as error:  # a probe that raises is a failed check, never a 500
        # The body is public: it names the error, the log has the rest (hosts, ports).
        logger.warning("Readiness check %s failed: %s", name, error)
        ok, detail, facts = False, f"{type(error).__name__}", {}
    return Check(name, ok, detail, round((time.perf_counter() - started) * 1000, 1), facts)


def probe_database() -> tuple[bool, str, dict[str, Any]]:
    if connection.vendor == "postgresql":
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        with psycopg.connect(**params, connect_timeout=PROBE_TIMEOUT_SECONDS) as probe:
            probe.execute("SELECT 1")
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    return True, "reachable", {}


_migrated = False  # once applied, they stay applied for this process's code


def probe_migrations() -> tuple[bool, str, dict[str, Any]]:
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            return False, f"{len(plan)} migrations not applied", {}
        _migrated = True
    return True, "applied", {}


def probe_channel_layer() -> tuple[bool, str, dict[str, Any]]:
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
        socket_timeout=PROBE_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    finally:
        client.close()
    return True, "redis reachable", {}


def probe_workers() -> tuple[bool, str, dict[str, Any]]:
    alive = presence.alive().count()
    if not alive:
        return False, f"no worker heartbeat in {settings.WORKER_PRESENCE_SECONDS} s", {}
    return True, f"{alive} alive", {"alive": alive}


def probe_outbox() -> tuple[bool, str, dict[str, Any]]:
    limit = settings.READY_OUTBOX_MAX_BACKLOG
    unsent = OutboxEvent.objects.filter(sent_at__isnull=True)
    backlog = unsent.order_by()[: limit + 1].count()
    oldest = unsent.aggregate(oldest=Min("created_at"))["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    facts = {"backlog": backlog, "oldestAgeSeconds": round(age, 1)}
    if backlog > limit:
        return False, f"backlog over {limit}", facts
    if age > settings.READY_OUTBOX_MAX_AGE_SECONDS:
        return False, f"oldest undelivered over {settings.READY_OUTBOX_MAX_AGE_SECONDS} s", facts
    return True, "delivering", facts


def open_alerts() -> list[dict[str, Any]]:
    """The open alerts by kind: warnings, never a reason to take the server out."""
    rows = (
        Alert.objects.filter(resolved_at__isnull=True)
        .values("kind")
        .annotate(count=Count("id"))
        .order_by("kind")
    )
    return [{"kind": row["kind"], "count": row["count"]} for row in rows]


def readiness() -> tuple[bool, dict[str, Any]]:
    """(ready, body): every check by name; warnings are the open alerts."""
    database = timed("database", probe_database)
    checks = [database]
    if database.ok:
        checks += [timed("migrations", probe_migrations)]
    if settings.REDIS_URL:
        checks.append(timed("channelLayer", probe_channel_layer))
    warnings: list[dict[str, Any]] = []
    if database.ok:
        checks += [timed("workers", probe_workers), timed("outbox", probe_outbox)]
        warnings = open_alerts()
    else:
        checks += [Check(name, False, "database unreachable") for name in SKIPPED_WITHOUT_DB]
    ready = all(check.ok for check in checks)
    body = {
        "status": "ok" if ready else "fail",
        "checks": {check.name: check.as_dict() for check in checks},
        "warnings": warnings,
    }
    return ready, body


SKIPPED_WITHOUT_DB = ("migrations", "workers", "outbox")
