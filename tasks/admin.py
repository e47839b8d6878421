"""The staff admin for every tasks model, built to stay quick at a million tasks:
no full result counts (config.changelists), joins chosen up front, raw id inputs instead of
dropdowns of every row, filters on low-cardinality columns only.

Deleted tasks are visible here (and only here); "restore deleted" brings them back.
runs/admin.py registers the full Task admin: this one plus its runs, its thread and the
retry and halt actions (apps above tasks extend it; tasks knows none of them).
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import F, QuerySet
from django.http import HttpRequest

from config.changelists import ScaledAdmin
from tasks import counters, services, vault
from tasks.models import Feature, Repository, Robot, RunnerProfile, Task, TaskGroup
from tasks.profiles import (
    PROFILE_FIELDS,
    VARIABLE_NAME,
    bad_variable_names,
    keep_masked,
    public_config,
)


@admin.register(Repository)
class RepositoryAdmin(ScaledAdmin):
    list_display = ("name", "workspace", "repository_url", "default_branch", "archived")
    list_select_related = ("workspace",)
    list_filter = ("archived", "workspace")
    search_fields = ("name", "repository_url", "id__exact")
    raw_id_fields = ("workspace",)


class RobotForm(forms.ModelForm):
    """The config is shown with its secrets masked; a masked value left as it is keeps
    the stored secret."""

    class Meta:
        model = Robot
        fields = ["workspace", "repository", "name", "runner", "config", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "config" in self.fields:
            self.initial["config"] = public_config(self.instance.config or {})

    def clean_config(self) -> Any:
        config = self.cleaned_data.get("config") or {}
        old = self.instance.config if self.instance.pk else {}
        return keep_masked(config, old or {}) if isinstance(config, dict) else config


@admin.register(Robot)
class RobotAdmin(ScaledAdmin):
    form = RobotForm
    list_display = ("name", "workspace", "runner", "repository", "enabled")
    list_select_related = ("workspace", "repository")
    list_filter = ("runner", "enabled", "workspace")
    search_fields = ("name", "id__exact")
    raw_id_fields = ("workspace", "repository")


class RunnerProfileForm(forms.ModelForm):
    """Secrets are write-only: `NAME=value` lines replace them all; left empty, the stored
    ones stay. Only their names are shown."""

    new_secrets = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="NAME=value per line; replaces every stored secret. Empty: keep them.",
    )
    clear_secrets = forms.BooleanField(required=False)

    class Meta:
        model = RunnerProfile
        fields = ["name", *PROFILE_FIELDS, "all_workspaces", "workspaces"]

    def clean_new_secrets(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for line in self.cleaned_data.get("new_secrets", "").splitlines():
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not VARIABLE_NAME.fullmatch(name.strip()):
                raise forms.ValidationError("Each line is NAME=value (NAME a variable name).")
            found[name.strip()] = value.strip()
        return found

    def clean_variables(self) -> Any:
        variables = self.cleaned_data.get("variables") or {}
        if not isinstance(variables, dict):
            raise forms.ValidationError("A JSON object of name: default value.")
        bad = bad_variable_names(variables)
        if bad:
            raise forms.ValidationError(f"Not a variable name: {', '.join(bad)}.")
        return variables

    def save(self, commit: bool = True) -> Any:
        profile = super().save(commit=False)
        if self.cleaned_data.get("clear_secrets"):
            vault.set_secrets(profile, {})
        elif self.cleaned_data.get("new_secrets"):
            vault.set_secrets(profile, self.cleaned_data["new_secrets"])
        if commit:
            profile.save()
            self.save_m2m()
        return profile


@admin.register(RunnerProfile)
class RunnerProfileAdmin(admin.ModelAdmin):
    form = RunnerProfileForm
    list_display = ("name", "runner", "network", "all_workspaces", "secret_names")
    list_filter = ("runner", "network", "all_workspaces")
    search_fields = ("name",)
    filter_horizontal = ("workspaces",)
    readonly_fields = ("secret_names",)

    @admin.display(description="secrets (names only)")
    def secret_names(self, profile: RunnerProfile) -> str:
        return ", ".join(vault.secret_names(profile)) or "-"


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

    # The form edits any column a count reads (status, archived, deleted, ...): each
    # save and delete moves the task between the workspace's counters.
    def save_model(self, request: HttpRequest, obj: Task, form: Any, change: bool) -> None:
        with counters.tracked([obj.pk]):
            super().save_model(request, obj, form, change)

    def delete_model(self, request: HttpRequest, obj: Task) -> None:
        with counters.tracked([obj.pk]):
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        with counters.tracked(list(queryset.values_list("pk", flat=True))):
            super().delete_queryset(request, queryset)

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
