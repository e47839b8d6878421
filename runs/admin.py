"""The staff admin of runs and log lines, and the full Task admin: the tasks app's
TaskAdmin with the task's runs and chat thread inline and the retry and halt actions,
which run the same services as the API."""

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from chat.admin import ChatMessageInline
from config.changelists import ScaledAdmin, newest_rows_formset
from config.exceptions import Conflict
from runs import presence, services
from runs.models import TaskLog, TaskRun, WorkerPresence
from tasks.admin import TaskAdmin
from tasks.models import Task

NEWEST_RUNS_SHOWN = 20


class TaskRunInline(admin.TabularInline):
    model = TaskRun
    formset = newest_rows_formset(("-number",), NEWEST_RUNS_SHOWN)
    verbose_name_plural = f"runs (newest {NEWEST_RUNS_SHOWN})"
    extra = 0
    fields = (
        "number",
        "trigger",
        "retry_of",
        "requested_by",
        "status",
        "worker_id",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "exit_code",
    )
    readonly_fields = fields
    can_delete = False
    show_change_link = True


admin.site.unregister(Task)


@admin.register(Task)
class TaskWithRunsAdmin(TaskAdmin):
    inlines = [*TaskAdmin.inlines, TaskRunInline, ChatMessageInline]
    actions = [*TaskAdmin.actions, "retry", "halt"]

    @admin.action(description="Retry selected tasks")
    def retry(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        def retry(task: Task) -> object:
            return services.retry(task, actor=request.user)  # type: ignore[arg-type]

        self._each(request, queryset, retry, "Queued")

    @admin.action(description="Halt selected tasks")
    def halt(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        self._each(request, queryset, services.halt, "Halted")

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[Task],
        action: Callable[[Task], object],
        done: str,
    ) -> None:
        """Runs the same service as the API on each task; refusals (409s) are listed."""
        count = 0
        for task in queryset.filter(deleted=False):
            try:
                action(task)
                count += 1
            except Conflict as refused:
                self.message_user(request, f"{task}: {refused.detail}", messages.WARNING)
        self.message_user(request, f"{done} {count} task(s).", messages.SUCCESS)


@admin.register(TaskRun)
class TaskRunAdmin(ScaledAdmin):
    list_display = (
        "__str__",
        "status",
        "trigger",
        "worker_id",
        "started_at",
        "finished_at",
        "heartbeat_at",
    )
    list_select_related = ("task",)
    list_filter = ("status", "trigger")
    search_fields = ("task__id__exact", "id__exact")
    raw_id_fields = ("task", "retry_of", "requested_by")
    ordering = ("-created_at", "-id")  # taskrun_created_idx


@admin.register(TaskLog)
class TaskLogAdmin(ScaledAdmin):
    list_display = ("__str__", "stream", "line", "created_at")
    list_select_related = ("task",)
    list_filter = ("stream",)
    search_fields = ("task__id__exact",)
    raw_id_fields = ("task", "run")
    ordering = ("-id",)


@admin.register(WorkerPresence)
class WorkerPresenceAdmin(admin.ModelAdmin):
    """Read-only: the workers write their rows (runs.presence)."""

    list_display = ("worker_id", "hostname", "pid", "started_at", "heartbeat_at", "alive")
    readonly_fields = ("worker_id", "hostname", "pid", "started_at", "heartbeat_at")
    ordering = ("-heartbeat_at",)

    @admin.display(boolean=True)
    def alive(self, worker: WorkerPresence) -> bool:
        return worker.heartbeat_at >= presence.fresh_after()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
