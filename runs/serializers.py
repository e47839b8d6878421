"""The JSON of runs and log lines; the runs app's sections of the task detail."""

from collections.abc import Sequence
from typing import Any

from django.db.models import UUIDField
from rest_framework import serializers

from accounts.serializers import UserRefSerializer
from config.compiled import CompiledModelQuery, Slot
from config.representation import FastOutput
from runs.models import LogStream, RunTrigger, TaskLog, TaskRun
from tasks.models import Task
from tasks.sections import Section

DETAIL_LOG_LINES = 200


class TaskRunSerializer(FastOutput, serializers.ModelSerializer[TaskRun]):
    """One run of the detail's `runs` (newest first): its outcome and its lineage."""

    trigger = serializers.ChoiceField(choices=RunTrigger.choices, read_only=True)
    retry_of = serializers.UUIDField(
        source="retry_of_id",
        read_only=True,
        allow_null=True,
        help_text="The run this one retries (retry, force, requeue), else null.",
    )
    requested_by = UserRefSerializer(read_only=True, allow_null=True)
    worker = serializers.CharField(
        source="worker_id", read_only=True, help_text="The worker (host:pid) that ran it."
    )

    class Meta:
        model = TaskRun
        fields = [
            "id",
            "number",
            "status",
            "trigger",
            "retry_of",
            "requested_by",
            "worker",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "exit_code",
            "error",
        ]


class TaskLogSerializer(FastOutput, serializers.ModelSerializer[TaskLog]):
    run_number = serializers.IntegerField(source="run.number", read_only=True)

    class Meta:
        model = TaskLog
        fields = ["seq", "run_number", "stream", "line", "created_at"]


class LogLineSerializer(serializers.Serializer[dict[str, Any]]):
    """A log line as runs.logs.line_payload writes it (already camelCase)."""

    seq = serializers.IntegerField()
    runNumber = serializers.IntegerField()
    stream = serializers.ChoiceField(choices=LogStream.choices)
    line = serializers.CharField()
    createdAt = serializers.DateTimeField()


def load_runs(tasks: Sequence[Task]) -> None:
    """Each task's runs, newest first, with who asked for them."""
    for task in tasks:
        task.run_list = _RUNS.all(task=task.pk)  # type: ignore[attr-defined]


def load_recent_logs(tasks: Sequence[Task]) -> None:
    """The last DETAIL_LOG_LINES lines, for tasks whose workspace keeps logs; the others
    get no `logs` key."""
    for task in tasks:
        if task.workspace.task_logs_enabled:
            newest = _RECENT_LOGS.all(task=task.pk)
            task.recent_logs = newest[::-1]  # type: ignore[attr-defined]


# Both compiled once (config.compiled): the ORM built and compiled them on every detail.
_RUNS = CompiledModelQuery(
    lambda: (
        TaskRun.objects.filter(task_id=Slot("task", UUIDField()))
        .select_related("requested_by")
        .order_by("-number")
    )
)
_RECENT_LOGS = CompiledModelQuery(
    lambda: (
        TaskLog.objects.filter(task_id=Slot("task", UUIDField()))
        .select_related("run")
        .order_by("-seq")[:DETAIL_LOG_LINES]
    )
)


RUNS_SECTION = Section(
    output=lambda: TaskRunSerializer(many=True, read_only=True, source="run_list"),
    load=load_runs,
)
LOGS_SECTION = Section(
    # Absent when the task's workspace keeps no logs (features.taskLogsEnabled false):
    # not read_only (output only anyway), which the schema would list as required.
    output=lambda: TaskLogSerializer(many=True, required=False, source="recent_logs"),
    load=load_recent_logs,
)
