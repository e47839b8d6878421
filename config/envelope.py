from typing import Any

from rest_framework import status as http_status
from rest_framework.response import Response


def success(
    data: Any = None, *, status: int = http_status.HTTP_200_OK, key: str = "data", **extra: Any
) -> Response:
    """`{"success": true, "data": ...}`; `key` names another key where a seed does."""
    return Response({"success": True, key: data, **extra}, status=status)


def no_content() -> Response:
    return Response(status=http_status.HTTP_204_NO_CONTENT)
