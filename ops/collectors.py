"""Gauges read from the database when /metrics is scraped: state that no one process
holds (the outbox backlog, the run queue, open alerts, live workers). Each is one
indexed query; the scrape adds them to the counters of every process."""

from collections.abc import Iterator

from django.db.models import Count, Exists, Min, OuterRef, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ops.models import Alert, AlertKind
from realtime.models import OutboxEvent
from runs import presence
from runs.models import TaskRun, W

PREFIX = "taskdesk_"


def queue_depth() -> dict[str, int]:
    """PENDING runs by why they wait: another run of the task or its group goes on
    (`behind_running`), or nothing has claimed them yet (`waiting_for_worker`)."""
    running = TaskRun.objects.filter(status=W.IN_PROGRESS)
    busy = Exists(running.filter(task_id=OuterRef("task_id"))) | Exists(
        running.filter(task__group_id=OuterRef("task__group_id"), task__group__isnull=False)
    )
    counts = TaskRun.objects.filter(status=W.PENDING).aggregate(
        total=Count("id"), behind=Count("id", filter=Q(busy))
    )
    return {
        "behind_running": counts["behind"],
        "waiting_for_worker": counts["total"] - counts["behind"],
    }


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        unsent = OutboxEvent.objects.filter(sent_at__isnull=True)
        outbox = unsent.aggregate(backlog=Count("id"), oldest=Min("created_at"))
        yield GaugeMetricFamily(
            PREFIX + "outbox_backlog", "Events not delivered yet.", value=outbox["backlog"]
        )
        age = (now - outbox["oldest"]).total_seconds() if outbox["oldest"] else 0.0
        yield GaugeMetricFamily(
            PREFIX + "outbox_oldest_undelivered_age_seconds",
            "Age of the oldest undelivered event.",
            value=age,
        )
        depth = GaugeMetricFamily(
            PREFIX + "run_queue_depth", "Queued (PENDING) runs, by reason.", labels=["reason"]
        )
        for reason, count in queue_depth().items():
            depth.add_metric([reason], count)
        yield depth
        alerts = GaugeMetricFamily(
            PREFIX + "alerts_open", "Open alerts (Needs attention), by kind.", labels=["kind"]
        )
        open_by_kind = dict(
            Alert.objects.filter(resolved_at__isnull=True)
            .values_list("kind")
            .annotate(n=Count("id"))
            .order_by()
        )
        for kind in AlertKind.values:
            alerts.add_metric([kind], open_by_kind.get(kind, 0))
        yield alerts
        yield GaugeMetricFamily(
            PREFIX + "workers_alive",
            "Workers with a fresh heartbeat.",
            value=presence.alive(now).count(),
        )
