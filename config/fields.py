"""Serializer fields the contract's inputs need."""

from typing import Any
from uuid import UUID

from rest_framework import serializers
from rest_framework.exceptions import NotFound


class EnumField(serializers.ChoiceField):
    """A choice whose error lists the allowed values, as the contract asks."""

    def to_internal_value(self, data: Any) -> Any:
        if str(data) not in self.choice_strings_to_values:
            allowed = ", ".join(self.choice_strings_to_values)
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
