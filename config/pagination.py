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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import F, Model, Q, QuerySet

from config.exceptions import invalid

MAX_LIMIT = 1000


@dataclass(frozen=True)
class PageRequest:
    limit: int
    page: int = 1
    cursor: str | None = None


def parse_page_request(
    params: Mapping[str, str], *, default_limit: int, max_limit: int = MAX_LIMIT
) -> PageRequest:
    limit = _positive_int(params, "limit", default_limit)
    if limit > max_limit:
        raise invalid("limit", f"Ensure this value is between 1 and {max_limit}.")
    cursor = params.get("cursor") or None
    page = 1 if cursor else _positive_int(params, "page", 1)
    return PageRequest(limit=limit, page=page, cursor=cursor)


def _positive_int(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise invalid(name, "A whole number is required.") from None
    if value < 1:
        raise invalid(name, "Ensure this value is greater than or equal to 1.")
    return value


def paginate(
    queryset: QuerySet[Any], request: PageRequest, order: Sequence[str]
) -> tuple[list[Any], dict[str, Any]]:
    """Orders `queryset` by `order` (e.g. `["-updated_at", "-id"]`, the last key
    unique; nulls sort last either way) and returns one page of it."""
    pagination: dict[str, Any]
    ordered = queryset.order_by(*[_order_expression(key) for key in order])
    if request.cursor:
        values = _decode(request.cursor, order)
        rows = list(ordered.filter(_after(order, values))[: request.limit + 1])
        has_more = len(rows) > request.limit
        rows = rows[: request.limit]
        pagination = {"limit": request.limit, "hasMore": has_more}
    else:
        total = queryset.count()
        offset = (request.page - 1) * request.limit
        rows = list(ordered[offset : offset + request.limit]) if offset < total else []
        has_more = offset + len(rows) < total
        pagination = {
            "page": request.page,
            "limit": request.limit,
            "totalCount": total,
            "totalPages": math.ceil(total / request.limit),
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
