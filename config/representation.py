"""A faster `to_representation` for the serializers that write the API's rows.

DRF's generic path runs, for every field of every row, `Field.get_attribute` (a loop with
try/except and a callable check) before the field's own `to_representation`. For a page
of 50 tasks that was most of the serializer's time. `FastOutput` works out once per
serializer instance how each field reads its value (the attribute path of its `source`),
then reads plain attributes directly. Anything unusual falls back to DRF's own path, so
the output is the same: a callable, a missing attribute, a field class with its own
`get_attribute`, a mapping instead of an object.

A `DateTimeField` writing ISO 8601 asked Django for the current time zone on every value
(an asgiref Local lookup, the largest single cost of a 200-workspace auth/me): the plan
asks once, and converts aware datetimes as DRF does; any other value takes DRF's path.

The hottest reads (a task list's rows, a chat page's messages, auth/me's workspaces) skip
model instances altogether: their selectors read `values()` rows and a `from_values`
beside the serializer writes the serializer's own output from them, with the helpers
below writing each value as the serializer's field does. `VALUES_ROWS = False` sends
those reads through the model instances and the serializers instead;
tests/config/test_representation.py answers every read endpoint both ways and compares
the bytes.
"""

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache, cached_property
from typing import Any

from rest_framework import ISO_8601
from rest_framework.fields import DateTimeField, Field, SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.serializers import Serializer
from rest_framework.settings import api_settings

Output = Callable[[Any], Any]

# Whether the hottest reads write their JSON from values() rows (see above).
VALUES_ROWS = True


def datetimes() -> Callable[[datetime | str | None], str | None]:
    """How a default DRF DateTimeField writes a value (ISO 8601 in the current time zone,
    `Z` for UTC; None stays None), with the time zone asked for once. A string is the
    text already, as DRF takes it: a column PostgreSQL wrote (config.apitext)."""
    output = _output(DateTimeField())

    def write(value: datetime | str | None) -> str | None:
        if value is None or type(value) is str:
            return value
        return output(value)  # type: ignore[no-any-return]

    return write


@cache
def writer[S: Serializer[Any]](serializer_class: type[S]) -> S:
    """One instance of an output serializer (no instance, no context), to write with its
    `to_representation`: DRF builds a serializer's fields anew for every instance (a
    ModelSerializer reads its model's fields and their error messages each time), which
    cost more than writing the one row of auth/me's user or a chat page's task."""
    return serializer_class()


def uuid_text(value: Any) -> str | None:
    """How DRF's UUIDField writes a UUID (hex_verbose); None stays None."""
    return None if value is None else str(value)


class FastOutput:
    @cached_property
    def _plan(self) -> list[tuple[str, Field, tuple[str, ...] | None, Output]]:
        plan = []
        for field in self._readable_fields:  # type: ignore[attr-defined]
            plain = type(field).get_attribute is Field.get_attribute
            attrs = tuple(field.source_attrs) if plain else None
            plan.append((field.field_name, field, attrs, _output(field)))
        return plan

    def to_representation(self, instance: Any) -> dict[str, Any]:
        if isinstance(instance, Mapping):
            return super().to_representation(instance)  # type: ignore[misc]
        out: dict[str, Any] = {}
        for name, field, attrs, output in self._plan:
            value = instance
            if attrs is None:
                value = _drf_attribute(field, instance)
            else:
                try:
                    for attr in attrs:
                        value = getattr(value, attr)
                except AttributeError:
                    value = _drf_attribute(field, instance)
                else:
                    if callable(value) and not isinstance(value, type):
                        value = _drf_attribute(field, instance)
            if value is _SKIP:
                continue
            if isinstance(value, PKOnlyObject):
                out[name] = None if value.pk is None else field.to_representation(value)
            else:
                out[name] = None if value is None else output(value)
        return out


def _output(field: Field) -> Output:
    """The field's `to_representation`, or a faster one that writes the same."""
    if isinstance(field, DateTimeField):
        kind = type(field)
        unchanged = all(
            getattr(kind, name) is getattr(DateTimeField, name)
            for name in ("to_representation", "enforce_timezone", "default_timezone")
        )
        if unchanged:
            return _iso_datetime_output(field)
    return field.to_representation


def _iso_datetime_output(field: DateTimeField) -> Output:
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
    if zone is None or not isinstance(output_format, str) or output_format.lower() != ISO_8601:
        return field.to_representation
    drf = field.to_representation

    def output(value: Any) -> Any:
        if type(value) is not datetime or value.utcoffset() is None:
            return drf(value)  # naive, a string, a subclass: DRF decides
        try:
            text = value.astimezone(zone).isoformat()
        except OverflowError:
            return drf(value)  # DRF's error
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return output


_SKIP = object()


def _drf_attribute(field: Field, instance: Any) -> Any:
    try:
        return field.get_attribute(instance)
    except SkipField:
        return _SKIP
