"""Outbound webhooks: what the workspace's endpoints are told, and how it reaches them.

Deliveries are rows written in the transaction of the change (the `published` hook of
realtime.events and the `run_finished` hook of runs), so none is lost and none is sent
for a rolled-back change. On commit, the job `send_delivery_job` makes an attempt;
a failed attempt is retried with exponential backoff (WEBHOOK_RETRY_DELAYS: 5 attempts
over about an hour) by a deferred job, or by `manage.py send_webhooks` on backends that
cannot defer. Requests follow the Standard Webhooks specification (`webhook-id`,
`webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`).
"""

import json
import logging
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.tasks import task, task_backends
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from chat.models import ChatMessage
from config import metrics
from config.memo import forget, transaction_memo
from integrations import targets
from integrations.models import (
    DeliveryStatus,
    OutboundEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from runs.models import TaskRun
from tasks import locks
from tasks.events import iso
from tasks.models import Task
from tasks.workflow import is_waiting_for_input

logger = logging.getLogger("taskdesk.webhooks")

RESPONSE_KEPT = 1000
USER_AGENT = "Taskdesk-Webhooks/1"
# The realtime events that mean an outbound event.
FROM_REALTIME = {
    "task-created": OutboundEvent.TASK_CREATED,
    "task-updated": OutboundEvent.TASK_UPDATED,
    "workflow-status-update": OutboundEvent.TASK_STATUS_CHANGED,
    "new-message": OutboundEvent.MESSAGE_CREATED,
}


# -- writing deliveries (inside the change's transaction) ----------------------------------


def on_published(sender: Any, channel: str, event: str, data: Any, **kwargs: Any) -> None:
    kind = FROM_REALTIME.get(event)
    if kind is None:
        return
    task_id = _task_id(channel, data)
    if task_id is None:
        return
    endpoints = _listening(task_id)
    if not endpoints:
        return
    task = Task.objects.select_related("workspace").get(pk=task_id)
    body = {**_task_data(task), **(data if isinstance(data, dict) else {})}
    if kind == OutboundEvent.MESSAGE_CREATED:
        message = ChatMessage.objects.get(pk=uuid.UUID(str(data)))
        body = {
            "taskId": str(task.pk),
            "messageId": str(message.pk),
            "role": message.role,
            "message": message.message,
            "timestamp": iso(message.timestamp),
        }
        record(endpoints, kind, body)
        if message.role == "ASSISTANT" and is_waiting_for_input(task):
            record(endpoints, OutboundEvent.TASK_WAITING_FOR_INPUT, _task_data(task))
        return
    record(endpoints, kind, body)


def reads_when_published(sender: Any, channel: str, event: str, data: Any, **kwargs: Any) -> bool:
    """Whether `on_published` reads the task and its message for this event: when the
    task's workspace has an endpoint listening (known with the task's lock)."""
    if event not in FROM_REALTIME:
        return False
    task_id = _task_id(channel, data)
    return task_id is not None and bool(_listening(task_id))


def on_run_finished(sender: Any, run: TaskRun, task: Task, **kwargs: Any) -> None:
    endpoints = _listening(task.pk)
    if endpoints:
        data = {
            **_task_data(task),
            "runId": str(run.pk),
            "runNumber": run.number,
            "runStatus": run.status,
        }
        record(endpoints, OutboundEvent.RUN_FINISHED, data)


def _task_id(channel: str, data: Any) -> uuid.UUID | None:
    """The task an event is about: its `taskId`, or the `task-{id}` channel's."""
    raw = data.get("taskId") if isinstance(data, dict) else channel.rsplit("task-", 1)[-1]
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


LISTENING = "integrations.listening"


def _listening(task_id: Any) -> list[WebhookEndpoint]:
    """The enabled endpoints of the task's workspace, looked up once per transaction: a
    run's end or a message sends several events in one (forgotten when an endpoint is
    saved or deleted: `forget_listening`). None and no look-up when the transaction
    locked the task and read with it that its workspace has none (`webhooks_enabled`)."""
    memo = transaction_memo(LISTENING)
    if memo is not None and task_id in memo:
        return memo[task_id]  # type: ignore[return-value]
    task = locks.locked(task_id)
    if task is not None and not task.webhooks_enabled:  # type: ignore[attr-defined]
        endpoints: list[WebhookEndpoint] = []
    else:
        endpoints = list(
            WebhookEndpoint.objects.filter(
                enabled=True,
                workspace_id__in=Task.objects.filter(pk=task_id).values("workspace_id"),
            )
        )
    if memo is not None:
        memo[task_id] = endpoints
    return endpoints


def webhooks_enabled() -> Exists:
    """Whether the task's workspace has an enabled endpoint: read with every locked task
    (tasks.locks.annotate_locked, IntegrationsConfig)."""
    return Exists(
        WebhookEndpoint.objects.filter(workspace_id=OuterRef("workspace_id"), enabled=True)
    )


def forget_listening(sender: Any, **kwargs: Any) -> None:
    """Connected to WebhookEndpoint's post_save and post_delete (IntegrationsConfig)."""
    forget(LISTENING)
    locks.forget_locked()


def _task_data(task: Task) -> dict[str, Any]:
    return {
        "taskId": str(task.pk),
        "workspace": task.workspace.slug,
        "title": task.title,
        "status": task.status,
        "workflowStatus": task.workflow_status,
        "updatedAt": iso(task.updated_at),
    }


def record(endpoints: Iterable[WebhookEndpoint], event: str, data: dict[str, Any]) -> list[Any]:
    """A delivery per subscribed endpoint, sent after commit."""
    now = timezone.now()
    payload = {"type": event, "timestamp": iso(now), "data": data}
    rows = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint,
            event=event,
            message_id=f"msg_{uuid.uuid4().hex}",
            payload=payload,
            next_attempt_at=now,
        )
        for endpoint in endpoints
        if event in endpoint.events or event == "webhook.test"
    )
    ids = [row.pk for row in rows]
    if ids:
        transaction.on_commit(lambda: _enqueue_all(ids))
    return ids


def _enqueue_all(ids: list[Any]) -> None:
    for pk in ids:
        enqueue(pk)


def enqueue(delivery_id: Any, run_after: datetime | None = None) -> None:
    job = send_delivery_job
    if run_after is not None:
        if not task_backends[job.backend].supports_defer:
            return  # `manage.py send_webhooks` sends it when due
        job = job.using(run_after=run_after)
    job.enqueue(str(delivery_id))


# -- sending (the worker) -------------------------------------------------------------------


@task()
def send_delivery_job(delivery_id: str) -> str:
    return attempt(delivery_id)


def send_due(now: datetime | None = None) -> int:
    """Attempts every delivery that is due; the count attempted."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).values_list("pk", flat=True)
    return sum(1 for pk in list(due[:500]) if attempt(pk, now=now) != "skipped")


def attempt(delivery_id: Any, *, now: datetime | None = None) -> str:
    """One attempt, if the delivery is due and no other worker took it: the lease moves
    its next attempt past the request's time limit while it is sent."""
    now = now or timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 30)
    taken = WebhookDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=lease)
    if not taken:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    result = send(delivery, now)
    return _record_result(delivery, result, now)


class Result:
    def __init__(self) -> None:
        self.status: int | None = None
        self.body = ""
        self.error = ""
        self.duration_ms = 0
        self.refused = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signed_headers(
    endpoint: WebhookEndpoint, message_id: str, sent_at: datetime, body: str
) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(message_id, sent_at, body),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


def send(delivery: WebhookDelivery, now: datetime) -> Result:
    result = Result()
    body = json.dumps(delivery.payload, separators=(",", ":"))
    headers = signed_headers(delivery.endpoint, delivery.message_id, timezone.now(), body)
    started = time.monotonic()
    try:
        target = targets.resolve(delivery.endpoint.url)
        connection = targets.connection(target, settings.WEBHOOK_TIMEOUT_SECONDS)
        try:
            connection.request("POST", target.path, body=body.encode(), headers=headers)
            response = connection.getresponse()
            result.status = response.status
            result.body = response.read(RESPONSE_KEPT * 4).decode("utf-8", "replace")[
                :RESPONSE_KEPT
            ]
        finally:
            connection.close()
        if not result.ok:
            result.error = f"HTTP {result.status}" + (
                " (redirects are not followed)" if 300 <= (result.status or 0) < 400 else ""
            )
    except targets.TargetRefused as refused:
        result.error, result.refused = str(refused), True
    except (OSError, ConnectionError, ValueError) as error:
        result.error = f"{type(error).__name__}: {error}"
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def _record_result(delivery: WebhookDelivery, result: Result, now: datetime) -> str:
    attempts = delivery.attempts + 1
    delays = settings.WEBHOOK_RETRY_DELAYS
    retry = not result.ok and not result.refused and attempts <= len(delays)
    if result.ok:
        status = DeliveryStatus.SUCCEEDED
    else:
        status = DeliveryStatus.PENDING if retry else DeliveryStatus.FAILED
    next_at = now + timedelta(seconds=delays[attempts - 1]) if retry else None
    result_name = "succeeded" if result.ok else "retry" if retry else "failed"
    metrics.webhook_deliveries.labels("outbound", result_name).inc()
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=status,
            attempts=attempts,
            next_attempt_at=next_at,
            response_status=result.status,
            response_body=result.body,
            duration_ms=result.duration_ms,
            error=result.error[:500],
            last_attempt_at=now,
        )
        _endpoint_health(delivery.endpoint, result, now)
    if next_at is not None:
        transaction.on_commit(lambda: enqueue(delivery.pk, run_after=next_at))
    return str(status)


def _endpoint_health(endpoint: WebhookEndpoint, result: Result, now: datetime) -> None:
    """A success clears the failing streak; failing for WEBHOOK_DISABLE_AFTER_HOURS
    disables the endpoint and says why."""
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    if result.ok:
        endpoints.filter(failing_since__isnull=False).update(failing_since=None)
        return
    endpoints.filter(failing_since__isnull=True).update(failing_since=now)
    cutoff = now - timedelta(hours=settings.WEBHOOK_DISABLE_AFTER_HOURS)
    reason = (
        f"Disabled at {iso(now)}: every delivery failed for "
        f"{settings.WEBHOOK_DISABLE_AFTER_HOURS} hours; the last: {result.error}"
    )[:500]
    endpoints.filter(enabled=True, failing_since__lte=cutoff).update(
        enabled=False, disabled_reason=reason
    )


# -- the API's and the admin's actions -------------------------------------------------------


@transaction.atomic
def send_again(delivery: WebhookDelivery) -> WebhookDelivery:
    """The same message (same `webhook-id`) once more, as a new log entry."""
    again = WebhookDelivery.objects.create(
        endpoint=delivery.endpoint,
        event=delivery.event,
        message_id=delivery.message_id,
        payload=delivery.payload,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: enqueue(again.pk))
    return again


@transaction.atomic
def send_test(endpoint: WebhookEndpoint) -> WebhookDelivery:
    data = {"endpointId": str(endpoint.pk), "workspace": endpoint.workspace.slug}
    [pk] = record([endpoint], "webhook.test", data)
    return WebhookDelivery.objects.get(pk=pk)
