"""Hooks of the tasks app for the apps above it (the runs app connects in its
AppConfig.ready). Each is sent inside the transaction of the change, with the task's
row locked; a receiver that raises (a Conflict, say) undoes the whole change."""

from django.dispatch import Signal

# The task should run (kwargs `task`; `trigger`, why: "create" for POST /api/tasks with
# `run`, "message" for a USER message in its thread, "webhook" for a repository event;
# `actor`, the user who asked, or None). The runs app queues a run, unless one is queued
# already, and records the trigger and the actor on it (runs.models.RunTrigger). A receiver
# that moves the task's workflow status announces it (`task-updated`, tasks.events): the
# sender announces only a task the hook left where it was.
run_requested = Signal()

# A person set the task's workflow status (PATCH), before it is written:
# kwargs `task` (still with its old status) and `status`. The runs app halts the runs
# of a task set to HALTED, and refuses to end a task whose run is still going.
workflow_set_by_person = Signal()

# The task is being deleted (kwargs `task`): whatever runs it stops.
task_deleting = Signal()
