"""The query filters of the task and task-group lists, as django-filter FilterSets.

Query parameters keep the API's camelCase names. Enum filters take comma lists and
answer 400 with the allowed values for anything unknown; the web console's lowercase
execution statuses are aliases of the WorkflowStatus values.
"""

from collections.abc import Iterable, Mapping
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError

from tasks.models import (
    EventType,
    GroupKind,
    Priority,
    SourceType,
    Task,
    TaskGroup,
    TaskStatus,
    WorkflowStatus,
)

WAITING_ALIAS = "waiting_approval"

# Console alias -> the WorkflowStatus values it stands for. `waiting_approval` is not
# a status but the waiting-for-input rule (tasks.selectors.waiting_for_input).
WORKFLOW_ALIASES: dict[str, tuple[str, ...]] = {
    "queued": (WorkflowStatus.PENDING,),
    "processing": (WorkflowStatus.IN_PROGRESS,),
    "running": (WorkflowStatus.IN_PROGRESS,),
    "succeeded": (WorkflowStatus.COMPLETED,),
    "success": (WorkflowStatus.COMPLETED,),
    "failed": (WorkflowStatus.FAILED, WorkflowStatus.ERROR),
    "halted": (WorkflowStatus.HALTED,),
}
STATUS_VALUES: tuple[str, ...] = (*WorkflowStatus.values, *WORKFLOW_ALIASES, WAITING_ALIAS)


class EnumListField(forms.CharField):
    """A comma list of values out of `choices` (case-sensitive, as the contract spells them)."""

    def __init__(self, *args: Any, choices: Iterable[str] = (), **kwargs: Any) -> None:
        self.allowed = tuple(choices)
        super().__init__(*args, **kwargs)

    def clean(self, value: Any) -> list[str] | None:  # type: ignore[override]
        value = super().clean(value)
        if not value:
            return None
        items = [item.strip() for item in str(value).split(",") if item.strip()]
        unknown = [item for item in items if item not in self.allowed]
        if unknown:
            raise forms.ValidationError(
                f"Unknown value {', '.join(unknown)}; allowed: {', '.join(self.allowed)}."
            )
        return items or None


class EnumListFilter(django_filters.Filter):
    field_class = EnumListField

    def filter(self, qs: QuerySet[Any], value: list[str] | None) -> QuerySet[Any]:
        if not value:
            return qs
        return qs.filter(**{f"{self.field_name}__in": value})


class StrictBooleanField(forms.CharField):
    """`true` / `false` (also 1/0, yes/no); anything else is a 400, not silently ignored."""

    TRUE = ("true", "1", "yes")
    FALSE = ("false", "0", "no")

    def clean(self, value: Any) -> bool | None:  # type: ignore[override]
        value = super().clean(value)
        if value in (None, ""):
            return None
        lowered = str(value).strip().lower()
        if lowered in self.TRUE:
            return True
        if lowered in self.FALSE:
            return False
        raise forms.ValidationError("Must be true or false.")


class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


class FlagFilter(StrictBooleanFilter):
    """A boolean parameter the selector reads itself (it filters nothing alone)."""

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        return qs


def status_condition(values: Iterable[str]) -> Q:
    """`status=PENDING,failed,waiting_approval` as one condition."""
    from tasks.selectors import waiting_for_input  # the selectors build on these filters

    statuses: set[str] = set()
    condition = Q(pk__in=[])
    for value in values:
        if value == WAITING_ALIAS:
            condition |= waiting_for_input()
        else:
            statuses.update(WORKFLOW_ALIASES.get(value, (value,)))
    if statuses:
        condition |= Q(workflow_status__in=sorted(statuses))
    return condition


class TaskFilter(django_filters.FilterSet):
    repoId = django_filters.UUIDFilter(field_name="repository_id")
    robotId = django_filters.UUIDFilter(field_name="robot_id")
    groupId = django_filters.UUIDFilter(field_name="group_id")
    featureId = django_filters.UUIDFilter(field_name="feature_id")
    assigneeId = django_filters.UUIDFilter(field_name="assignee_id")
    eventType = EnumListFilter(field_name="event_type", choices=EventType.values)
    status = EnumListFilter(method="filter_status", choices=STATUS_VALUES)
    taskStatus = EnumListFilter(field_name="status", choices=TaskStatus.values)
    priority = EnumListFilter(field_name="priority", choices=Priority.values)
    sourceType = EnumListFilter(field_name="source_type", choices=SourceType.values)
    search = django_filters.CharFilter(method="filter_search", max_length=200)
    archived = StrictBooleanFilter(method="filter_archived")
    includeArchived = FlagFilter()
    showAllStatuses = FlagFilter()
    includeLatestMessage = FlagFilter()

    class Meta:
        model = Task
        fields: list[str] = []

    def filter_status(self, qs: QuerySet[Task], name: str, value: list[str]) -> QuerySet[Task]:
        return qs.filter(status_condition(value)) if value else qs

    def filter_search(self, qs: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(
            Q(title__icontains=value) | Q(description__icontains=value) | Q(branch__icontains=value)
        )

    def filter_archived(self, qs: QuerySet[Task], name: str, value: bool | None) -> QuerySet[Task]:
        return qs  # applied in filter_queryset, together with includeArchived

    def filter_queryset(self, queryset: QuerySet[Task]) -> QuerySet[Task]:
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        # includeArchived=true is "archived only" (mobile seed); archived=true|false is
        # explicit; neither hides archived tasks.
        if data.get("includeArchived"):
            queryset = queryset.filter(archived=True)
        elif data.get("archived") is not None:
            queryset = queryset.filter(archived=data["archived"])
        else:
            queryset = queryset.filter(archived=False)
        has_status_filter = bool(data.get("status") or data.get("taskStatus"))
        if not data.get("showAllStatuses") and not has_status_filter:
            # The "recent" view: TODO cards that never ran stay on the board only.
            queryset = queryset.exclude(status=TaskStatus.TODO, workflow_status__isnull=True)
        return queryset


class TaskGroupFilter(django_filters.FilterSet):
    repoId = django_filters.UUIDFilter(field_name="repository_id")
    robotId = django_filters.UUIDFilter(field_name="robot_id")
    kind = EnumListFilter(field_name="kind", choices=GroupKind.values)
    search = django_filters.CharFilter(method="filter_search", max_length=200)
    archived = StrictBooleanFilter(field_name="archived")

    class Meta:
        model = TaskGroup
        fields: list[str] = []

    def filter_search(self, qs: QuerySet[TaskGroup], name: str, value: str) -> QuerySet[TaskGroup]:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(Q(title__icontains=value) | Q(binding_key__icontains=value))


def apply_filters(
    filterset_class: type[django_filters.FilterSet],
    params: Mapping[str, Any],
    queryset: QuerySet[Any],
) -> tuple[QuerySet[Any], dict[str, Any]]:
    """The filtered queryset and the cleaned values; 400 listing every bad parameter."""
    filterset = filterset_class(data=params, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError({field: list(errors) for field, errors in filterset.errors.items()})
    return filterset.qs, filterset.form.cleaned_data
