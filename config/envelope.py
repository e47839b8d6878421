"""The success side of the API's envelope, and its schema for drf-spectacular."""

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework import status as http_status
from rest_framework.response import Response


def success(
    data: Any = None, *, status: int = http_status.HTTP_200_OK, key: str = "data", **extra: Any
) -> Response:
    """`{"success": true, "data": ...}`; `key` names another key where the contract does
    (`task`, `message`)."""
    return Response({"success": True, key: data, **extra}, status=status)


def no_content() -> Response:
    return Response(status=http_status.HTTP_204_NO_CONTENT)


def enveloped(name: str, serializer: Any, *, key: str = "data", paged: bool = False) -> Any:
    """The schema of `{"success": true, key: <serializer>}`."""
    fields: dict[str, Any] = {"success": serializers.BooleanField(), key: serializer}
    if paged:
        fields["pagination"] = serializers.DictField()
    return inline_serializer(name=name, fields=fields)
