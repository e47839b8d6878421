"""Serializer fields the contract's inputs need."""

import re
from typing import Any
from uuid import UUID

from django.core.validators import RegexValidator
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound


class EnumField(serializers.ChoiceField):
    """A choice whose error lists the allowed values, as the contract asks; `aliases`
    are other names accepted for some of them."""

    def __init__(self, *args: Any, aliases: dict[str, str] | None = None, **kwargs: Any):
        self.aliases = aliases or {}
        super().__init__(*args, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and data in self.aliases:
            data = self.aliases[data]
        if not isinstance(data, str) or data not in self.choice_strings_to_values:
            allowed = ", ".join([*self.choice_strings_to_values, *self.aliases])
            raise serializers.ValidationError(f'"{data}" is not one of: {allowed}.')
        return super().to_internal_value(data)


class IdField(serializers.UUIDField):
    """An id in a query string: a malformed one is a 404 as an unknown one is (no
    difference between "no such row" and "not an id")."""

    def to_internal_value(self, data: Any) -> UUID:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            raise NotFound() from None


NO_CONTROL_CHARACTERS = RegexValidator(
    r"\A[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*\Z", "Must not contain control characters."
)


class StringOnly(serializers.CharField):
    """A JSON string, and only a string: DRF's CharField would store a number (or NaN) as
    its text."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class TextField(StringOnly):
    """A string whose control characters other than tab and newlines are refused (the
    schema documents it as a pattern)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(NO_CONTROL_CHARACTERS)


class SlugField(StringOnly, serializers.SlugField):
    pass


class BooleanField(serializers.BooleanField):
    """A JSON true or false, and only that: DRF's would also take "yes", "0" or 1 (the
    schema says boolean). For bodies; query strings have their own (config.filters)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class URLField(StringOnly, serializers.URLField):
    pass


class StrictInput:
    # For a ModelSerializer that takes input: the fields it derives from the model take
    # only the JSON type the schema gives them (a string, a boolean), as TextField does.
    # (A comment, not a docstring: the schema would take it as every such serializer's.)

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StringOnly,
        models.TextField: StringOnly,
        models.SlugField: SlugField,
        models.URLField: URLField,
        models.BooleanField: BooleanField,
    }


@extend_schema_field({"type": "object", "additionalProperties": {}})
class ObjectField(serializers.JSONField):
    """A JSON object (the schema says so; DRF's JSONField takes any JSON value)."""

    default_error_messages = {"not_an_object": "Must be a JSON object."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            self.fail("not_an_object")
        return super().to_internal_value(data)


MEDIA_TYPE = re.compile(r"\A[A-Za-z0-9][\w.+-]*/[\w.+-]+(?:[ \t]*;[ \t]*[\w.+-]+=[\w.+\-\"]+)*\Z")


class MediaTypeField(serializers.CharField):
    """A media type such as `image/png` or `text/plain; charset=utf-8`: it becomes a
    Content-Type header when the file is downloaded, so nothing else gets in."""

    default_error_messages = {"invalid": "Must be a media type such as image/png."}

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not MEDIA_TYPE.match(value):
            self.fail("invalid")
        return value
