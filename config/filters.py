"""The query-string side of every list: django-filter FilterSets applied by
`FilterBackend`, and the filters the contract's parameters need.

Enum filters answer 400 with the allowed values for anything unknown; booleans accept
true/false (1/0, yes/no) and nothing else.
"""

import re
from collections.abc import Iterable
from functools import cache
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.http import QueryDict
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.drainage import set_override
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


class FilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend that keeps the validated filterset on the view
    (`view.filterset`), so that a list can read the flags and order it names.

    A FilterSet with `REUSED_WITHOUT_PARAMETERS = True` (it reads nothing but its
    parameters) is validated once per process for the requests that name none of its
    parameters, the default list's: building and validating one (a deep copy of every
    filter, a form) took ~1.8 ms of a task page."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        filterset = self.validated(request, queryset, view)
        return queryset if filterset is None else filterset.filter_queryset(queryset.all())

    def validated(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        """The view's filterset of this request, validated (400 otherwise) and kept on the
        view, without filtering anything: for a view that may not need the queryset
        (tasks/stats answered from the counters)."""
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return None
        if getattr(filterset_class, "REUSED_WITHOUT_PARAMETERS", False) and not any(
            name in request.query_params for name in filterset_class.base_filters
        ):
            filterset = without_parameters(filterset_class)
        else:
            filterset = filterset_class(**self.get_filterset_kwargs(request, queryset, view))
            if not filterset.is_valid():
                errors = filterset.errors.items()
                raise ValidationError({name: list(messages) for name, messages in errors})
        view.filterset = filterset
        return filterset


@cache
def without_parameters(filterset_class: type[django_filters.FilterSet]) -> Any:
    """The filterset of a request naming none of its parameters, validated (read-only
    after: the views read its cleaned data)."""
    model = filterset_class._meta.model
    filterset = filterset_class(data=QueryDict(), queryset=model._default_manager.none())
    if not filterset.is_valid():
        raise ValueError(f"{filterset_class.__name__} refuses no parameters: {filterset.errors}")
    return filterset


Choices = Iterable[str | tuple[str, str]]


def allowed_values(choices: Choices) -> tuple[str, ...]:
    """The values of `choices`, given as values or as (value, label) pairs (the form
    drf-spectacular reads to document them)."""
    return tuple(c[0] if isinstance(c, tuple) else c for c in choices)


def pairs(values: Iterable[str]) -> list[tuple[str, str]]:
    return [(value, value) for value in values]


def _unknown(values: Iterable[str], allowed: Iterable[str]) -> forms.ValidationError:
    return forms.ValidationError(
        f"Unknown value {', '.join(values)}; allowed: {', '.join(allowed)}."
    )


class EnumListField(forms.CharField):
    """A comma list of values out of `choices` (case-sensitive, as the contract spells them)."""

    def __init__(self, *args: Any, choices: Choices = (), **kwargs: Any) -> None:
        self.allowed = allowed_values(choices)
        super().__init__(*args, **kwargs)

    def clean(self, value: Any) -> list[str] | None:  # type: ignore[override]
        value = super().clean(value)
        if not value:
            return None
        items = [item.strip() for item in str(value).split(",") if item.strip()]
        unknown = [item for item in items if item not in self.allowed]
        if unknown:
            raise _unknown(unknown, self.allowed)
        return items or None


class EnumListFilter(django_filters.Filter):
    field_class = EnumListField

    def filter(self, qs: QuerySet[Any], value: list[str] | None) -> QuerySet[Any]:
        if not value:
            return qs
        return qs.filter(**{f"{self.field_name}__in": value})


class EnumField(forms.CharField):
    """One value out of `choices`."""

    def __init__(self, *args: Any, choices: Choices = (), **kwargs: Any) -> None:
        self.allowed = allowed_values(choices)
        super().__init__(*args, **kwargs)

    def clean(self, value: Any) -> str | None:  # type: ignore[override]
        value = super().clean(value)
        if value in (None, ""):
            return None
        if value not in self.allowed:
            raise _unknown([value], self.allowed)
        return str(value)


class ParameterFilter(django_filters.Filter):
    """A validated parameter that filters nothing itself: the view reads it (a flag, an
    order) from `filterset.form.cleaned_data`."""

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        return qs


class EnumParameter(ParameterFilter):
    field_class = EnumField

    def __init__(self, *args: Any, choices: Choices = (), **kwargs: Any) -> None:
        super().__init__(*args, choices=choices, **kwargs)
        # The schema lists the values (per filter, so not the class-wide decorator).
        set_override(self, "field", {"type": "string", "enum": list(allowed_values(choices))})


CANONICAL_UUID = re.compile(r"\A[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\Z")


class IdFormField(forms.UUIDField):
    """A UUID as the API writes them (8-4-4-4-12 hex digits), as the schema's `format:
    uuid` says: Python's UUID would also take braces, `urn:uuid:` or no hyphens."""

    def to_python(self, value: Any) -> Any:
        if value not in self.empty_values and not CANONICAL_UUID.match(str(value)):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class IdFilter(django_filters.UUIDFilter):
    field_class = IdFormField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Empty is "not given", as for every filter (the console sends `robotId=`).
        set_override(
            self, "field", {"type": "string", "anyOf": [{"format": "uuid"}, {"maxLength": 0}]}
        )


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


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


@extend_schema_field(OpenApiTypes.BOOL)
class FlagParameter(ParameterFilter):
    field_class = StrictBooleanField
