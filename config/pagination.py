"""The shared paging of every list: `page` + `limit`, or an opaque keyset `cursor`.

Page mode answers `pagination {page, limit, totalCount, totalPages, hasMore,
nextCursor}`; cursor mode answers `{limit, hasMore, nextCursor}` and stays stable
while rows are inserted between pages, because it continues after the last row's
sort key instead of skipping an offset.
"""

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import F, Model, Q, QuerySet
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from config.envelope import success
from config.exceptions import invalid

MAX_LIMIT = 1000


@dataclass(frozen=True)
class PageRequest:
    limit: int
    page: int = 1
    cursor: str | None = None


class PageQuerySerializer(serializers.Serializer[PageRequest]):
    """The paging parameters of every list, as typed values."""

    page = serializers.IntegerField(min_value=1, default=1, help_text="Page number (>= 1).")
    limit = serializers.IntegerField(min_value=1, required=False, help_text="Rows per page.")
    cursor = serializers.CharField(
        required=False, help_text="Opaque cursor from pagination.nextCursor."
    )


def parse_page_request(
    params: Mapping[str, Any], *, default_limit: int, max_limit: int = MAX_LIMIT
) -> PageRequest:
    query = PageQuerySerializer(
        data={k: params[k] for k in ("page", "limit", "cursor") if params.get(k) not in (None, "")}
    )
    query.is_valid(raise_exception=True)
    limit = query.validated_data.get("limit", default_limit)
    if limit > max_limit:
        raise invalid("limit", f"Ensure this value is between 1 and {max_limit}.")
    cursor = query.validated_data.get("cursor")
    return PageRequest(
        limit=limit, page=1 if cursor else query.validated_data["page"], cursor=cursor
    )


class EnvelopePagination(BasePagination):
    """Page or cursor paging for a viewset's list, answered in the envelope
    (`{success, data, pagination}`). The viewset names its order (`page_order()`, the last
    key unique) and its default page size (`default_limit`, or `page_limit(request)`)."""

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        limit = view.page_limit(request) if hasattr(view, "page_limit") else view.default_limit
        page_request = parse_page_request(request.query_params, default_limit=limit)
        # A view that knows its total without counting the rows says so (page_total).
        total = getattr(view, "page_total", None)
        rows, self.pagination = paginate(queryset, page_request, view.page_order(), total)
        return rows

    def get_paginated_response(self, data: Any) -> Response:
        return success(data, pagination=self.pagination)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["success", "data", "pagination"],
            "properties": {
                "success": {"type": "boolean"},
                "data": schema,
                "pagination": {
                    "type": "object",
                    "properties": {
                        "page": {"type": "integer"},
                        "limit": {"type": "integer"},
                        "totalCount": {"type": "integer"},
                        "totalPages": {"type": "integer"},
                        "hasMore": {"type": "boolean"},
                        "nextCursor": {"type": "string", "nullable": True},
                    },
                },
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": kind},
                "description": text,
            }
            for name, kind, text in (
                ("page", "integer", "Page number (>= 1)."),
                ("limit", "integer", f"Rows per page (1..{MAX_LIMIT})."),
                ("cursor", "string", "Opaque cursor from pagination.nextCursor."),
            )
        ]


def paginate(
    queryset: QuerySet[Any],
    request: PageRequest,
    order: Sequence[str],
    total: Callable[[], int | None] | None = None,
) -> tuple[list[Any], dict[str, Any]]:
    """Orders `queryset` by `order` (e.g. `["-updated_at", "-id"]`, the last key
    unique; nulls sort last either way) and returns one page of it. `total`, asked in
    page mode only, gives the row count without a COUNT (None: count)."""
    pagination: dict[str, Any]
    ordered = queryset.order_by(*[_order_expression(key) for key in order])
    if request.cursor:
        values = _decode(request.cursor, order)
        rows = list(ordered.filter(_after(order, values))[: request.limit + 1])
        has_more = len(rows) > request.limit
        rows = rows[: request.limit]
        pagination = {"limit": request.limit, "hasMore": has_more}
    else:
        known = total() if total else None
        count = queryset.count() if known is None else known
        offset = (request.page - 1) * request.limit
        # A count that was not counted does not hide the first page.
        first = known is not None and offset == 0
        rows = list(ordered[offset : offset + request.limit]) if offset < count or first else []
        has_more = offset + len(rows) < count
        pagination = {
            "page": request.page,
            "limit": request.limit,
            "totalCount": count,
            "totalPages": math.ceil(count / request.limit),
            "hasMore": has_more,
        }
    pagination["nextCursor"] = _encode(rows[-1], order) if has_more and rows else None
    return rows, pagination


def _order_expression(key: str) -> Any:
    name = key.lstrip("-")
    return F(name).desc(nulls_last=True) if key.startswith("-") else F(name).asc(nulls_last=True)


def _after(order: Sequence[str], values: list[Any]) -> Q:
    """Rows strictly after `values` in `order`: (a > x) | (a = x & b > y) | ..."""
    condition = Q(pk__in=[])
    equal_so_far = Q()
    for key, value in zip(order, values, strict=True):
        name = key.lstrip("-")
        if value is None:
            # Nulls sort last: nothing but other nulls follow a null.
            beyond = Q(pk__in=[])
            same = Q(**{f"{name}__isnull": True})
        else:
            lookup = "lt" if key.startswith("-") else "gt"
            beyond = Q(**{f"{name}__{lookup}": value}) | Q(**{f"{name}__isnull": True})
            same = Q(**{name: value})
        condition |= equal_so_far & beyond
        equal_so_far &= same
    return condition


def _encode(row: Model, order: Sequence[str]) -> str:
    values = [_plain(getattr(row, key.lstrip("-"))) for key in order]
    raw = json.dumps({"o": list(order), "v": values}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, order: Sequence[str]) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        values = payload["v"]
        matches = (
            payload["o"] == list(order)
            and len(values) == len(order)
            and all(isinstance(v, str | int | float | None) for v in values)
        )
    except (binascii.Error, ValueError, KeyError, TypeError):
        matches = False
    if not matches:
        raise invalid("cursor", "This cursor is not valid for this list and order.")
    return values


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value
