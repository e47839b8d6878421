"""The periodic check for what needs a person: tasks stuck in the queue (PENDING and no
worker claimed them for STUCK_PENDING_MINUTES), runs whose heartbeat is older than
STUCK_HEARTBEAT_SECONDS (before the reaper's STALE_RUN_SECONDS ends them), and robots
whose runs fail at FAILURE_SPIKE_PERCENT or more over the last window.

Each condition is one open Alert row while it holds; the check resolves it when it no
longer does. Open alerts are the admin's "Needs attention" list, /readyz's warnings and
the `taskdesk_alerts_open` metric.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from integrations import outbound
from integrations.models import OutboundEvent, WebhookEndpoint
from ops.models import Alert, AlertKind
from runs.models import TaskRun, W
from tasks.events import iso
from tasks.models import Robot, Task

logger = logging.getLogger("taskdesk.alerts")
FAILED = (W.FAILED, W.ERROR)


@dataclass(frozen=True)
class Finding:
    kind: str
    detail: str
    task_id: Any = None
    run_id: Any = None
    robot_id: Any = None

    @property
    def key(self) -> tuple[str, Any, Any, Any]:
        return (self.kind, self.task_id, self.run_id, self.robot_id)


def stuck_pending(now: Any) -> list[Finding]:
    cutoff = now - timedelta(minutes=settings.STUCK_PENDING_MINUTES)
    runs = TaskRun.objects.filter(status=W.PENDING, created_at__lt=cutoff).select_related("task")
    return [
        Finding(
            AlertKind.STUCK_PENDING,
            f"{run.task.title!r} run {run.number} queued since {run.created_at:%Y-%m-%d %H:%M} "
            "UTC; no worker claimed it",
            task_id=run.task_id,
            run_id=run.pk,
        )
        for run in runs[:500]
    ]


def stale_heartbeats(now: Any) -> list[Finding]:
    cutoff = now - timedelta(seconds=settings.STUCK_HEARTBEAT_SECONDS)
    runs = TaskRun.objects.filter(status=W.IN_PROGRESS, heartbeat_at__lt=cutoff).select_related(
        "task"
    )
    return [
        Finding(
            AlertKind.STALE_HEARTBEAT,
            f"{run.task.title!r} run {run.number} on {run.worker_id or 'a worker'}: last "
            f"heartbeat {run.heartbeat_at:%H:%M:%S} UTC",
            task_id=run.task_id,
            run_id=run.pk,
        )
        for run in runs[:500]
    ]


def failure_spikes(now: Any) -> list[Finding]:
    since = now - timedelta(minutes=settings.FAILURE_SPIKE_WINDOW_MINUTES)
    rows = (
        TaskRun.objects.filter(finished_at__gte=since, task__robot__isnull=False)
        .values("task__robot")
        .annotate(ended=Count("id"), failed=Count("id", filter=Q(status__in=FAILED)))
        .filter(ended__gte=settings.FAILURE_SPIKE_MIN_RUNS)
    )
    spikes = [r for r in rows if r["failed"] * 100 >= settings.FAILURE_SPIKE_PERCENT * r["ended"]]
    names = dict(
        Robot.objects.filter(pk__in=[r["task__robot"] for r in spikes]).values_list("pk", "name")
    )
    return [
        Finding(
            AlertKind.FAILURE_SPIKE,
            f"robot {names.get(r['task__robot'], '?')!r}: {r['failed']} of {r['ended']} runs "
            f"failed in {settings.FAILURE_SPIKE_WINDOW_MINUTES} min",
            robot_id=r["task__robot"],
        )
        for r in spikes
    ]


def check_alerts() -> dict[str, int]:
    """Opens an alert per new finding, refreshes those that hold, resolves the rest;
    returns how many are open by kind."""
    now = timezone.now()
    findings = {f.key: f for f in stuck_pending(now) + stale_heartbeats(now) + failure_spikes(now)}
    with transaction.atomic():
        open_alerts = {
            (a.kind, a.task_id, a.run_id, a.robot_id): a
            for a in Alert.objects.select_for_update().filter(resolved_at__isnull=True)
        }
        gone = [a.pk for key, a in open_alerts.items() if key not in findings]
        Alert.objects.filter(pk__in=gone).update(resolved_at=now)
        held = [a.pk for key, a in open_alerts.items() if key in findings]
        Alert.objects.filter(pk__in=held).update(last_seen_at=now)
        new = [f for key, f in findings.items() if key not in open_alerts]
        opened = Alert.objects.bulk_create(
            Alert(
                kind=f.kind,
                detail=f.detail,
                task_id=f.task_id,
                run_id=f.run_id,
                robot_id=f.robot_id,
                last_seen_at=now,
            )
            for f in new
        )
        announce(opened)
    for finding in new:
        logger.warning("Needs attention: %s", finding.detail, extra={"alert": finding.kind})
    counts: dict[str, int] = {}
    for kind, *_ in findings:
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def announce(alerts: list[Alert]) -> None:
    """`alert.opened` to the outbound webhook endpoints of each alert's workspace, written
    in the transaction that opens the alerts (sent after commit by the worker)."""
    for alert in alerts:
        workspace_id = _workspace_of(alert)
        if workspace_id is None:
            continue
        endpoints = WebhookEndpoint.objects.filter(workspace_id=workspace_id, enabled=True)
        outbound.record(
            endpoints,
            OutboundEvent.ALERT_OPENED,
            {
                "kind": alert.kind,
                "detail": alert.detail,
                "taskId": str(alert.task_id) if alert.task_id else None,
                "robotId": str(alert.robot_id) if alert.robot_id else None,
                "openedAt": iso(alert.opened_at or timezone.now()),
            },
        )


def _workspace_of(alert: Alert) -> Any:
    if alert.task_id:
        return Task.objects.filter(pk=alert.task_id).values_list("workspace_id", flat=True).first()
    if alert.robot_id:
        return (
            Robot.objects.filter(pk=alert.robot_id).values_list("workspace_id", flat=True).first()
        )
    return None
