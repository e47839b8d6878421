"""The task's execution state machine: which workflow-status moves exist, and `move`,
the one writer of `Task.workflow_status` and the one place that publishes
`workflow-status-update`.

    None ─────────► PENDING ◄──────────────────────────────┐
                      │  ▲                                 │ retried, asked again
                      ▼  │ a next turn waits               │
                   IN_PROGRESS ──► COMPLETED | FAILED | ERROR | HALTED
    PENDING ──► HALTED (halted or deleted while queued) | ERROR (never started, reaped)

The engine (the runs app) makes every move; a person (PATCH) may make the ones that
do not start work: starting is a retry or a chat message, which queue a run.
"""

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from config.exceptions import Conflict
from realtime.events import publish, task_channel
from tasks import counters, locks
from tasks.events import iso
from tasks.models import Task, WorkflowStatus

W = WorkflowStatus
ACTIVE = frozenset({W.PENDING, W.IN_PROGRESS})
ENDED = frozenset({W.COMPLETED, W.FAILED, W.ERROR, W.HALTED})

TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({W.PENDING}),
    W.PENDING: frozenset({W.IN_PROGRESS, W.HALTED, W.ERROR}),
    W.IN_PROGRESS: frozenset({W.PENDING, *ENDED}),
    **{ended: frozenset({W.PENDING}) for ended in ENDED},
}
# What only the engine may do: put work in the queue.
ENGINE_ONLY = frozenset({W.PENDING})

# WorkflowStatus -> the web console's lowercase `state`; `waiting_approval` is not a
# status but the waiting-for-input rule below.
CONSOLE_STATES: dict[str, str] = {
    W.PENDING: "queued",
    W.IN_PROGRESS: "processing",
    W.COMPLETED: "succeeded",
    W.FAILED: "failed",
    W.ERROR: "failed",
    W.HALTED: "halted",
}
WAITING_STATE = "waiting_approval"
# Console names accepted on input: each state, plus the console's synonyms.
CONSOLE_ALIASES: dict[str, tuple[str, ...]] = {
    **{
        state: tuple(s for s, name in CONSOLE_STATES.items() if name == state)
        for state in dict.fromkeys(CONSOLE_STATES.values())
    },
    "running": (W.IN_PROGRESS,),
    "success": (W.COMPLETED,),
}


# The console's names where one status is meant (for an edit): `failed` covers FAILED and
# ERROR in a filter, and means FAILED when set.
CONSOLE_INPUT: dict[str, str] = {alias: statuses[0] for alias, statuses in CONSOLE_ALIASES.items()}


class IllegalTransition(Conflict):
    code = "ILLEGAL_TRANSITION"


def waiting_for_input() -> Q:
    """The one definition of "waiting for input", used by stats, list rows, the
    `waiting_approval` alias and notifications-count: queued or running, and the newest
    ASSISTANT message carries an unanswered FORM (`Task.awaiting_input`, which the chat
    service keeps in the same transaction as the messages)."""
    return Q(workflow_status__in=ACTIVE, awaiting_input=True)


def is_waiting_for_input(task: Task) -> bool:
    """The same rule for one loaded row."""
    return waits_for_input(task.workflow_status, task.awaiting_input)


def waits_for_input(workflow_status: str | None, awaiting_input: bool) -> bool:
    """The same rule for a row's two columns (a values() row)."""
    return workflow_status in ACTIVE and awaiting_input


def state_of(task: Task) -> str | None:
    return state_for(task.workflow_status, task.awaiting_input)


def state_for(workflow_status: str | None, awaiting_input: bool) -> str | None:
    """The web console's `state` of a task with these columns."""
    if waits_for_input(workflow_status, awaiting_input):
        return WAITING_STATE
    return CONSOLE_STATES.get(workflow_status) if workflow_status else None


def check(current: str | None, to: str | None, *, by_person: bool = False) -> None:
    """Raises IllegalTransition (409) unless `current -> to` is a move of the table (and,
    for a person, one that does not queue work)."""
    if to == current:
        return
    allowed = TRANSITIONS.get(current, frozenset())
    if by_person:
        allowed = allowed - ENGINE_ONLY
    if to not in allowed:
        choices = ", ".join(sorted(allowed)) or "none"
        raise IllegalTransition(
            message=f"workflowStatus cannot go from {current or 'null'} to {to or 'null'}"
            f"{' by an edit' if by_person else ''}; allowed: {choices}."
            + (" A retry or a chat message queues a task." if to in ENGINE_ONLY else "")
        )


def move(
    task: Task,
    to: str | None,
    *,
    now: datetime | None = None,
    by_person: bool = False,
    **fields: Any,
) -> bool:
    """Moves the task (its row locked by the caller) to `to` with `fields` in one UPDATE,
    stamps workflowStartedAt / workflowCompletedAt, and publishes
    `workflow-status-update` when the status changed, and moves the task between the
    workspace's counters (tasks.counters). In a `fused` block (config.fused) the UPDATE
    (with the block's other changes of the task) and the counters' upsert are written at
    the block's end. Returns whether it changed."""
    check(task.workflow_status, to, by_person=by_person)
    before = counters.fact_of(task)
    now = now or timezone.now()
    changed = to != task.workflow_status
    if changed:
        if to == W.IN_PROGRESS:
            fields.setdefault("workflow_started_at", now)
        fields["workflow_completed_at"] = now if to in ENDED else None
    fields.update(workflow_status=to, updated_at=now)
    locks.update_locked(task, fields)
    for name, value in fields.items():
        setattr(task, name, value)
    counters.changed(task, before)
    if changed:
        publish(
            task_channel(task.pk),
            "workflow-status-update",
            {"taskId": str(task.pk), "workflowStatus": to, "timestamp": iso(now)},
        )
    return changed
