"""The query filters of the task and task-group lists, as django-filter FilterSets
(applied by config.filters.FilterBackend).

Query parameters keep the API's camelCase names. The web console's lowercase execution
statuses are aliases of the WorkflowStatus values (tasks.workflow.CONSOLE_ALIASES).
"""

from collections.abc import Iterable

import django_filters
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from config.filters import (
    EnumListFilter,
    EnumParameter,
    FlagParameter,
    IdFilter,
    StrictBooleanFilter,
    pairs,
)
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
from tasks.queueing import QueueReason, with_reason_in
from tasks.workflow import CONSOLE_ALIASES, WAITING_STATE, waiting_for_input

STATUS_VALUES: tuple[str, ...] = (*WorkflowStatus.values, *CONSOLE_ALIASES, WAITING_STATE)

# sortBy -> the model field (or annotation) it orders by.
SORT_FIELDS = {
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "priority": "priority_rank",
    "title": "title",
    "status": "status",
    "workflowStatus": "workflow_status",
}
# Filters that keep a small part of the tasks, each served by an index of its own.
NARROWING = (
    "repoId",
    "robotId",
    "groupId",
    "featureId",
    "assigneeId",
    "eventType",
    "status",
    "taskStatus",
    "priority",
    "sourceType",
    "search",
    "includeArchived",
    "archived",
)
PRIORITY_RANK = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2, Priority.CRITICAL: 3}


def status_condition(values: Iterable[str]) -> Q:
    """`status=PENDING,failed,waiting_approval` as one condition."""
    statuses: set[str] = set()
    condition = Q(pk__in=[])
    for value in values:
        if value == WAITING_STATE:
            condition |= waiting_for_input()
        else:
            statuses.update(CONSOLE_ALIASES.get(value, (value,)))
    if statuses:
        condition |= Q(workflow_status__in=sorted(statuses))
    return condition


def search_condition(value: str, *fields: str) -> Q:
    condition = Q(pk__in=[])
    for name in fields:
        condition |= Q(**{f"{name}__icontains": value})
    return condition


class TaskFilter(django_filters.FilterSet):
    repoId = IdFilter(field_name="repository_id")
    robotId = IdFilter(field_name="robot_id")
    groupId = IdFilter(field_name="group_id")
    featureId = IdFilter(field_name="feature_id")
    assigneeId = IdFilter(field_name="assignee_id")
    eventType = EnumListFilter(field_name="event_type", choices=EventType.choices)
    status = EnumListFilter(method="filter_status", choices=pairs(STATUS_VALUES))
    taskStatus = EnumListFilter(method="filter_task_status", choices=TaskStatus.choices)
    priority = EnumListFilter(method="filter_priority", choices=Priority.choices)
    sourceType = EnumListFilter(field_name="source_type", choices=SourceType.choices)
    search = django_filters.CharFilter(method="filter_search", max_length=200)
    queueReason = EnumListFilter(method="filter_queue_reason", choices=QueueReason.choices)
    archived = StrictBooleanFilter(method="filter_archived")
    includeArchived = FlagParameter()
    showAllStatuses = FlagParameter()

    # Reads only its parameters: validated once for the requests that name none
    # (config.filters.FilterBackend).
    REUSED_WITHOUT_PARAMETERS = True
    # Counting (stats) covers every live task; the list's "recent" view does not.
    recent_only = False
    # The filters whose condition reads only the columns the workspace counters are
    # keyed by (tasks.counters): with no other filter set, counts come from the counters.
    COUNTED = frozenset(
        {"status", "taskStatus", "priority", "archived", "includeArchived", "showAllStatuses"}
    )
    # Parameters that change the rows' order or sections, never which rows.
    NOT_FILTERS: frozenset[str] = frozenset()

    class Meta:
        model = Task
        fields: list[str] = []

    def filter_status(self, qs: QuerySet[Task], name: str, value: list[str]) -> QuerySet[Task]:
        return qs  # applied in filter_queryset (counted_condition)

    def filter_task_status(self, qs: QuerySet[Task], name: str, value: list[str]) -> QuerySet[Task]:
        return qs  # applied in filter_queryset (counted_condition)

    def filter_priority(self, qs: QuerySet[Task], name: str, value: list[str]) -> QuerySet[Task]:
        return qs  # applied in filter_queryset (counted_condition)

    def filter_search(self, qs: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        value = value.strip()
        return qs.filter(search_condition(value, "title", "description", "branch")) if value else qs

    def filter_queue_reason(
        self, qs: QuerySet[Task], name: str, value: list[str]
    ) -> QuerySet[Task]:
        return with_reason_in(qs, value) if value else qs

    def filter_archived(self, qs: QuerySet[Task], name: str, value: bool | None) -> QuerySet[Task]:
        return qs  # applied in filter_queryset, together with includeArchived

    def filter_queryset(self, queryset: QuerySet[Task]) -> QuerySet[Task]:
        return super().filter_queryset(queryset).filter(self.counted_condition())

    def counted_condition(self) -> Q:
        """The condition of the COUNTED filters (and the defaults they imply), on columns
        that TaskCount shares with Task: the list applies it to tasks, counts to counters."""
        data = self.form.cleaned_data
        condition = Q()
        if data.get("status"):
            condition &= status_condition(data["status"])
        if data.get("taskStatus"):
            condition &= Q(status__in=data["taskStatus"])
        if data.get("priority"):
            condition &= Q(priority__in=data["priority"])
        # includeArchived=true is "archived only" (mobile clients' contract); archived=true|false is
        # explicit; neither hides archived tasks.
        if data.get("includeArchived"):
            condition &= Q(archived=True)
        elif data.get("archived") is not None:
            condition &= Q(archived=data["archived"])
        else:
            condition &= Q(archived=False)
        has_status_filter = bool(data.get("status") or data.get("taskStatus"))
        if self.recent_only and not data.get("showAllStatuses") and not has_status_filter:
            # The "recent" view: TODO cards that never ran stay on the board only.
            condition &= ~Q(status=TaskStatus.TODO, workflow_status__isnull=True)
        return condition

    def is_counted(self) -> bool:
        """Whether the counters answer this filter's counts: no filter but the COUNTED."""
        data = self.form.cleaned_data
        return all(
            name in self.COUNTED or name in self.NOT_FILTERS
            for name, value in data.items()
            if value not in (None, "", [], False)
        )


class TaskListFilter(TaskFilter):
    """The task list: its filters, the row sections asked for, and its order."""

    includeLatestMessage = FlagParameter()
    sortBy = EnumParameter(choices=pairs(SORT_FIELDS))
    sortOrder = EnumParameter(choices=pairs(("asc", "desc")))

    # The "recent" view: TODO cards that never ran are hidden unless asked for.
    recent_only = True
    NOT_FILTERS = frozenset({"includeLatestMessage", "sortBy", "sortOrder"})

    def filter_queryset(self, queryset: QuerySet[Task]) -> QuerySet[Task]:
        queryset = super().filter_queryset(queryset)
        if self.order()[0].lstrip("-") == "priority_rank":
            queryset = with_priority_rank(queryset)
        return queryset

    def order(self) -> list[str]:
        """The list's order: `sortBy` (default updatedAt) `sortOrder` (default desc), ties
        broken by id in the same direction."""
        data = self.form.cleaned_data
        prefix = "" if data.get("sortOrder") == "asc" else "-"
        return [prefix + SORT_FIELDS[data.get("sortBy") or "updatedAt"], prefix + "id"]

    def narrows(self) -> bool:
        """Whether a filter keeps a small part of the tasks (archived=false, the default,
        does not). The list then reads it through the filter's index, not by walking each
        workspace in order."""
        data = self.form.cleaned_data
        return any(data.get(name) for name in NARROWING)


class GroupTaskFilter(TaskListFilter):
    """A group's tasks: the list, every status shown."""

    recent_only = False


def with_priority_rank(queryset: QuerySet[Task]) -> QuerySet[Task]:
    return queryset.annotate(
        priority_rank=Case(
            *[When(priority=name, then=Value(rank)) for name, rank in PRIORITY_RANK.items()],
            default=Value(0),
            output_field=IntegerField(),
        )
    )


class TaskGroupFilter(django_filters.FilterSet):
    repoId = IdFilter(field_name="repository_id")
    robotId = IdFilter(field_name="robot_id")
    kind = EnumListFilter(field_name="kind", choices=GroupKind.choices)
    search = django_filters.CharFilter(method="filter_search", max_length=200)
    archived = StrictBooleanFilter(field_name="archived")

    class Meta:
        model = TaskGroup
        fields: list[str] = []

    def narrows(self) -> bool:
        """Whether a filter keeps few of the groups (as TaskListFilter.narrows): the list
        then reads them through that filter, not by walking each workspace in order."""
        data = self.form.cleaned_data
        return any(data.get(name) for name in ("repoId", "robotId", "search"))

    def filter_search(self, qs: QuerySet[TaskGroup], name: str, value: str) -> QuerySet[TaskGroup]:
        value = value.strip()
        return qs.filter(search_condition(value, "title", "binding_key")) if value else qs
