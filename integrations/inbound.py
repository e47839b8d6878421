"""Inbound repository deliveries: stored once per delivery id, then acted on.

`receive` is idempotent by the provider's delivery id (a redelivery answers the first
outcome and writes nothing); `replay` runs a stored payload again through the same
code. An event finds or creates its TaskGroup by binding (repository, kind, number or
sha); each robot of the repository it addresses gets a WEBHOOK task, queued through the
tasks hook `run_requested` (the runs app queues the run).
"""

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from integrations import pull_requests
from integrations.models import InboundDelivery, Outcome
from integrations.providers import PROVIDERS, RepoEvent
from tasks import counters
from tasks.events import announce
from tasks.models import Repository, Robot, SourceType, Task, TaskGroup
from tasks.signals import run_requested

TRIGGER_KEYS = ("events", "labels", "branches")


@dataclass(frozen=True)
class Received:
    delivery: InboundDelivery
    first: bool  # False: a redelivery; `delivery` is the first one, nothing was written


def receive(
    repository: Repository, *, source: str, event: str, delivery_id: str, payload: Any
) -> Received:
    earlier = _earlier(repository, source, delivery_id)
    if earlier is not None:
        return Received(earlier, first=False)
    delivery = InboundDelivery(
        repository=repository,
        source=source,
        event=event[:100],
        delivery_id=delivery_id[:200],
        payload=payload,
        outcome=Outcome.IGNORED,
    )
    try:
        with transaction.atomic():
            # The unique delivery id: a concurrent twin waits here for this one's commit,
            # then fails and answers the first outcome.
            delivery.save(force_insert=True)
            act(delivery)
    except IntegrityError:
        earlier = _earlier(repository, source, delivery_id)
        if earlier is None:
            raise
        return Received(earlier, first=False)
    return Received(delivery, first=True)


def replay(delivery: InboundDelivery) -> InboundDelivery:
    """The stored payload again, through the same code, as a new log entry."""
    again = InboundDelivery(
        repository=delivery.repository,
        source=delivery.source,
        event=delivery.event,
        delivery_id=delivery.delivery_id,
        payload=delivery.payload,
        outcome=Outcome.IGNORED,
        replay_of=delivery,
    )
    with transaction.atomic():
        again.save(force_insert=True)
        act(again)
    return again


def _earlier(repository: Repository, source: str, delivery_id: str) -> InboundDelivery | None:
    return (
        InboundDelivery.objects.filter(
            repository=repository, source=source, delivery_id=delivery_id[:200], replay_of=None
        )
        .prefetch_related("tasks")
        .first()
    )


def act(delivery: InboundDelivery) -> None:
    """Reads the payload and does what it asks; records the outcome on the delivery."""
    payload = delivery.payload if isinstance(delivery.payload, dict) else {}
    parsed = PROVIDERS[delivery.source](delivery.event, payload)
    delivery.action = parsed.action[:100]
    event = parsed.event
    if event is None:
        delivery.outcome, delivery.detail = Outcome.IGNORED, parsed.reason[:500]
        delivery.save(update_fields=["action", "outcome", "detail"])
        return
    repository = delivery.repository
    group = _group(repository, event)
    tasks = [_task(repository, group, robot, event) for robot in addressed(repository, event)]
    if event.pull_request is not None:
        pull_requests.track(repository, group, event.pull_request)
    if event.checks:
        pull_requests.record_checks(repository, int(event.number.lstrip("!")), event.checks)
    delivery.group = group
    if tasks:
        delivery.outcome = Outcome.TASK_CREATED
        delivery.detail = f"{event.name}: " + ", ".join(t.robot.name for t in tasks if t.robot)
        delivery.tasks.set(tasks)
    else:
        delivery.outcome = Outcome.RECORDED
        delivery.detail = f"{event.name}: no robot addressed."
    delivery.save(update_fields=["action", "outcome", "detail", "group"])


def _group(repository: Repository, event: RepoEvent) -> TaskGroup:
    group, created = TaskGroup.objects.get_or_create(
        repository=repository,
        kind=event.kind,
        binding_key=event.number,
        defaults={"workspace_id": repository.workspace_id, "title": event.title[:500]},
    )
    if not created:
        if event.title and event.title != group.title:
            group.title = event.title[:500]
        group.save()  # updated_at: the group's last activity
    return group


def addressed(repository: Repository, event: RepoEvent) -> list[Robot]:
    """The enabled robots of the repository that the event addresses: `@name` in its
    text, or the trigger rules of the robot's config."""
    robots = Robot.objects.filter(repository=repository, enabled=True).order_by("name", "id")
    return [r for r in robots if mentioned(r.name, event.text) or triggered(r.config, event)]


def mentioned(name: str, text: str) -> bool:
    if not name or not text:
        return False
    return re.search(rf"(?<![\w@/.-])@{re.escape(name)}(?![\w-])", text, re.IGNORECASE) is not None


def triggered(config: Any, event: RepoEvent) -> bool:
    """`config.triggers = {events?: [...], labels?: [...], branches?: [...]}`: every rule
    given must match (events and branches are glob patterns, labels any-of)."""
    rules = config.get("triggers") if isinstance(config, dict) else None
    if not isinstance(rules, dict) or not any(rules.get(key) for key in TRIGGER_KEYS):
        return False
    return (
        _any_glob(event.name, rules.get("events"))
        and _any_label(event.labels, rules.get("labels"))
        and _any_glob(event.branch, rules.get("branches"))
    )


def _any_glob(value: str, patterns: Any) -> bool:
    if not patterns:
        return True
    return bool(value) and any(fnmatch.fnmatchcase(value, str(p)) for p in _listed(patterns))


def _any_label(labels: Sequence[str], wanted: Any) -> bool:
    if not wanted:
        return True
    folded = {label.casefold() for label in labels}
    return any(str(w).casefold() in folded for w in _listed(wanted))


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _task(repository: Repository, group: TaskGroup, robot: Robot, event: RepoEvent) -> Task:
    title = event.title or f"{event.kind} {event.number}"
    task = Task.objects.create(
        workspace_id=repository.workspace_id,
        title=title[:500],
        description=event.text,
        prompt=event.text or title,
        repository=repository,
        robot=robot,
        group=group,
        event_type=event.kind,
        source_type=SourceType.WEBHOOK,
        branch=event.branch or repository.default_branch,
    )
    task.workspace = repository.workspace
    counters.created(task)
    run_requested.send(sender=Task, task=task, trigger="webhook", actor=None)
    announce(task, "task-created")
    return task
