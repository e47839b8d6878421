"""The success side of the API's envelope, and its schema for drf-spectacular."""

from typing import Any

from drf_spectacular.drainage import set_override
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework import status as http_status
from rest_framework.response import Response


def success(
    data: Any = None, *, status: int = http_status.HTTP_200_OK, key: str = "data", **extra: Any
) -> Response:
    """`{"success": true, "data": ...}`; `key` names another key where the contract does
    (`task` for PATCH, `message` for a posted message)."""
    return Response({"success": True, key: data, **extra}, status=status)


def no_content() -> Response:
    return Response(status=http_status.HTTP_204_NO_CONTENT)


def enveloped(name: str, serializer: Any, *, key: str = "data", paged: bool = False) -> Any:
    """The schema of `{"success": true, key: <serializer>}`: one object, also for a list
    (drf-spectacular would otherwise wrap a list action's answer in an array)."""
    fields: dict[str, Any] = {"success": serializers.BooleanField(), key: serializer}
    if paged:
        fields["pagination"] = PaginationSerializer()
    envelope = inline_serializer(name=name, fields=fields)
    set_override(envelope, "many", False)
    return envelope


class PaginationSerializer(serializers.Serializer[dict[str, Any]]):
    """Page mode has page, totalCount and totalPages; cursor mode only limit, hasMore and
    nextCursor (null at the end)."""

    page = serializers.IntegerField(required=False)
    limit = serializers.IntegerField()
    total_count = serializers.IntegerField(required=False)
    total_pages = serializers.IntegerField(required=False)
    has_more = serializers.BooleanField()
    next_cursor = serializers.CharField(allow_null=True)
