"""What the apps above tasks add to the task JSON, registered in their AppConfig.ready:
chat adds the row's `latestMessage` (asked for with includeLatestMessage), runs adds the
detail's `runs` and `logs`. Tasks knows none of those apps; it asks its sections.

A section loads its data for a whole page of tasks at once (a fixed number of queries),
setting an attribute that its field reads. A task left without the attribute has no
such key in its JSON (the detail's `logs` when its workspace keeps no logs).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from tasks.models import Task


def unchanged(queryset: QuerySet[Task]) -> QuerySet[Task]:
    return queryset


@dataclass(frozen=True)
class Section:
    output: Callable[[], serializers.Field]  # the output field (JSON and schema)
    load: Callable[[Sequence[Task]], None]  # sets the field's attribute on each task
    annotate: Callable[[QuerySet[Task]], QuerySet[Task]] = unchanged  # before paging
    # For a page of values() rows (config.representation.VALUES_ROWS): the columns of
    # `annotate` it reads, and what sets its key on each row, written as `output` writes
    # it. None: the section needs model instances.
    columns: tuple[str, ...] = ()
    load_values: Callable[[Sequence[dict[str, Any]]], None] | None = None


ROW_SECTIONS: dict[str, Section] = {}
DETAIL_SECTIONS: dict[str, Section] = {}


def add_row_section(name: str, section: Section) -> None:
    ROW_SECTIONS[name] = section


def add_detail_section(name: str, section: Section) -> None:
    DETAIL_SECTIONS[name] = section


def load(sections: dict[str, Section], names: Sequence[str], rows: Sequence[Any]) -> None:
    for name in names:
        sections[name].load(rows)


def load_values(
    sections: dict[str, Section], names: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    for name in names:
        load = sections[name].load_values
        assert load is not None, f"the {name} section reads model instances"
        load(rows)


def values_columns(sections: dict[str, Section], names: Sequence[str]) -> list[str] | None:
    """The columns these sections read from values() rows; None: one of them needs model
    instances."""
    if any(sections[name].load_values is None for name in names):
        return None
    return [column for name in names for column in sections[name].columns]
