"""The Prometheus metrics every process records (the official prometheus_client, in
multiprocess mode: PROMETHEUS_MULTIPROC_DIR is set by config.settings before this module
is imported, so daphne, the workers and the dispatcher all write where /metrics reads).

Counters and histograms live here, the lowest layer, so that any app may move them.
Gauges of database state (outbox backlog, queue depth, open alerts) are read when
/metrics is scraped (ops.metrics), not kept by any one process. Labels are bounded: a
route pattern, never a path; a status; never a task id, and a workspace id only with
METRICS_WORKSPACE_LABEL.
"""

import atexit
import os

from django.conf import settings
from prometheus_client import Counter, Gauge, Histogram, multiprocess

NAMESPACE = "taskdesk"
# Seconds: from a fast API answer to a long run.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
RUN_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200)

http_requests = Counter(
    "http_requests", "HTTP requests answered.", ["route", "method", "status"], namespace=NAMESPACE
)
http_request_duration = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["route", "method"],
    namespace=NAMESPACE,
    buckets=LATENCY_BUCKETS,
)

runs_started = Counter("runs_started", "Runs claimed by a worker.", namespace=NAMESPACE)
runs_finished = Counter(
    "runs_finished", "Runs ended, by status.", ["status", "workspace"], namespace=NAMESPACE
)
run_duration = Histogram(
    "run_duration_seconds",
    "From a run's start to its end.",
    ["status"],
    namespace=NAMESPACE,
    buckets=RUN_BUCKETS,
)
run_queue_wait = Histogram(
    "run_queue_wait_seconds",
    "From a run's queueing to its start.",
    namespace=NAMESPACE,
    buckets=RUN_BUCKETS,
)
runs_reaped = Counter(
    "runs_reaped", "Runs ended by the reaper (no heartbeat).", namespace=NAMESPACE
)

outbox_delivery_attempts = Counter(
    "outbox_delivery_attempts", "Batches of events offered to the publisher.", namespace=NAMESPACE
)
outbox_delivery_failures = Counter(
    "outbox_delivery_failures", "Batches the publisher did not accept.", namespace=NAMESPACE
)
outbox_delivered = Counter("outbox_delivered_events", "Events delivered.", namespace=NAMESPACE)
outbox_delivery_lag = Histogram(
    "outbox_delivery_lag_seconds",
    "From an event's commit to its delivery.",
    namespace=NAMESPACE,
    buckets=(*LATENCY_BUCKETS, 30, 60, 300),
)

websocket_connections = Gauge(
    "websocket_connections",
    "Open WebSocket connections (built-in Pusher server).",
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
websocket_subscriptions = Gauge(
    "websocket_subscriptions",
    "Channel subscriptions of open WebSocket connections.",
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
sse_streams = Gauge(
    "sse_streams", "Open SSE log streams.", namespace=NAMESPACE, multiprocess_mode="livesum"
)

webhook_deliveries = Counter(
    "webhook_deliveries",
    "Webhook deliveries: inbound by outcome (task_created, recorded, ignored, redelivered,"
    " invalid_signature), outbound attempts by result (succeeded, retry, failed).",
    ["direction", "outcome"],
    namespace=NAMESPACE,
)
log_lines_written = Counter("log_lines_written", "Run log lines stored.", namespace=NAMESPACE)
log_lines_truncated = Counter(
    "log_lines_truncated", "Run log lines dropped over the per-run cap.", namespace=NAMESPACE
)

retention_deleted = Counter(
    "retention_deleted_rows", "Rows deleted by retention, by kind.", ["kind"], namespace=NAMESPACE
)


def workspace_label(workspace_id: object) -> str:
    return str(workspace_id) if settings.METRICS_WORKSPACE_LABEL else ""


def _forget_live_gauges() -> None:
    # A stopped process's open connections are no longer open.
    multiprocess.mark_process_dead(os.getpid())


atexit.register(_forget_live_gauges)
