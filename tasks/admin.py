"""The staff admin for every tasks model, built to stay quick at a million tasks:
no full result counts, joins chosen up front, raw id inputs instead of
dropdowns of every row, filters on low-cardinality columns only.

Deleted tasks are visible here (and only here); "restore deleted" brings them back.
runs/admin.py registers the full Task admin: this one plus its runs, its thread and the
retry and halt actions (apps above tasks extend it; tasks knows none of them).
"""

from typing import Any

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from tasks import services
from tasks.models import Feature, Repository, Robot, Task, TaskGroup


class EstimatedCountPaginator(Paginator):
    """An unfiltered changelist of a big table takes PostgreSQL's row estimate
    instead of counting a million rows on every page view."""

    ESTIMATE_ABOVE = 100_000

    @cached_property
    def count(self) -> int:
        queryset: Any = self.object_list
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE relname = %s",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > self.ESTIMATE_ABOVE:
                return int(row[0])
        return int(queryset.count())


class ScaledAdmin(admin.ModelAdmin):
    show_full_result_count = False
    list_per_page = 50
    paginator = EstimatedCountPaginator


@admin.register(Repository)
class RepositoryAdmin(ScaledAdmin):
    list_display = ("name", "workspace", "repository_url", "default_branch", "archived")
    list_select_related = ("workspace",)
    list_filter = ("archived", "workspace")
    search_fields = ("name", "repository_url", "id__exact")
    raw_id_fields = ("workspace",)


@admin.register(Robot)
class RobotAdmin(ScaledAdmin):
    list_display = ("name", "workspace", "runner", "repository", "enabled")
    list_select_related = ("workspace", "repository")
    list_filter = ("runner", "enabled", "workspace")
    search_fields = ("name", "id__exact")
    raw_id_fields = ("workspace", "repository")


@admin.register(Feature)
class FeatureAdmin(ScaledAdmin):
    list_display = ("title", "workspace", "created_at")
    list_select_related = ("workspace",)
    list_filter = ("workspace",)
    search_fields = ("title", "id__exact")
    raw_id_fields = ("workspace",)


@admin.register(TaskGroup)
class TaskGroupAdmin(ScaledAdmin):
    list_display = ("__str__", "kind", "workspace", "repository", "robot", "archived", "updated_at")
    list_select_related = ("workspace", "repository", "robot")
    list_filter = ("kind", "archived", "workspace")
    search_fields = ("title", "binding_key", "id__exact")
    raw_id_fields = ("workspace", "repository", "robot")


@admin.register(Task)
class TaskAdmin(ScaledAdmin):
    list_display = (
        "title",
        "workspace",
        "workflow_status",
        "status",
        "priority",
        "repository",
        "robot",
        "archived",
        "deleted",
        "updated_at",
    )
    list_select_related = ("workspace", "repository", "robot")
    list_filter = ("workflow_status", "status", "priority", "archived", "deleted", "workspace")
    search_fields = ("title", "id__exact")
    raw_id_fields = (
        "workspace",
        "assignee",
        "created_by",
        "feature",
        "repository",
        "robot",
        "group",
    )
    readonly_fields = ("log_seq", "message_count", "awaiting_input", "created_at", "updated_at")
    actions = ["archive", "unarchive", "restore_deleted"]

    def get_ordering(self, request: HttpRequest) -> Any:
        # The order (and nulls placement) of the index task_recent_nl_idx.
        return [F("updated_at").desc(nulls_last=True), F("id").desc(nulls_last=True)]

    @admin.action(description="Archive selected tasks")
    def archive(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        count = services.set_archived(queryset, True)
        self.message_user(request, f"Archived {count} task(s).", messages.SUCCESS)

    @admin.action(description="Unarchive selected tasks")
    def unarchive(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        count = services.set_archived(queryset, False)
        self.message_user(request, f"Unarchived {count} task(s).", messages.SUCCESS)

    @admin.action(description="Restore selected deleted tasks")
    def restore_deleted(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        count = services.restore_deleted(queryset.filter(deleted=True))
        self.message_user(request, f"Restored {count} task(s).", messages.SUCCESS)
