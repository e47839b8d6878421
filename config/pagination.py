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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.exceptions import FieldDoesNotExist
from django.db import connections
from django.db.models import Case, F, Model, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.lookups import In
from django.db.models.sql.query import Query
from django.db.models.sql.where import AND
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from config.envelope import success
from config.exceptions import invalid

# A page's rows of its ids: (ordered, order, ids) -> rows (see paginate).
PageRows = Callable[[QuerySet[Any], Sequence[str], Any], Iterable[Any]]

MAX_LIMIT = 1000


@dataclass(frozen=True)
class Partition:
    """A list that is the union of disjoint parts (`field` = each of `values`), each read
    in order from an index that leads with `field`: PostgreSQL reads the head of every
    part and merges them (LATERAL) instead of sorting the union."""

    field: str
    values: Sequence[Any]
    sql_type: str = "uuid"


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
        required=False, allow_blank=True, help_text="Opaque cursor from pagination.nextCursor."
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
        partition = view.page_partition() if hasattr(view, "page_partition") else None
        # A view that knows its total without counting the rows says so (page_total).
        total = getattr(view, "page_total", None)
        # What a page's rows are read as (relations, annotations, values()), if the
        # view says (page_rows): applied to the page's query only, not to its ids'.
        rows = getattr(view, "page_rows", None)
        page, self.pagination = paginate(
            queryset, page_request, view.page_order(), partition=partition, total=total, rows=rows
        )
        return page

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
            {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
            for name, schema, text in PAGE_SPECS
        ]


def or_empty(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "string", "maxLength": 0}]}


# The paging parameters in the schema. An empty value is the parameter not given
# (docs/API.md), so the schema says so.
PAGE_SPECS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("page", or_empty({"type": "integer", "minimum": 1}), "Page number (>= 1)."),
    (
        "limit",
        or_empty({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
        f"Rows per page (1..{MAX_LIMIT}).",
    ),
    ("cursor", {"type": "string"}, "Opaque cursor from pagination.nextCursor."),
)
# The same, for views that page by hand (`extend_schema(parameters=PAGE_PARAMETERS)`).
PAGE_PARAMETERS = [
    OpenApiParameter(name, schema, OpenApiParameter.QUERY, description=text)
    for name, schema, text in PAGE_SPECS
]


def paginate(
    queryset: QuerySet[Any],
    request: PageRequest,
    order: Sequence[str],
    *,
    partition: Partition | None = None,
    total: Callable[[], int | None] | None = None,
    rows: PageRows | None = None,
) -> tuple[list[Any], dict[str, Any]]:
    """Orders `queryset` by `order` (e.g. `["-updated_at", "-id"]`, the last key
    unique; nulls sort last either way) and returns one page of it. `total`, asked in
    page mode only, gives the row count without a COUNT (None: count). `rows(ordered,
    order, ids)` reads the page's rows of `ids` (a subquery) in `order`, as what they are
    read as (relations, annotations, or values() rows, which then hold the order's keys
    too); `rows_of(ordered, order, ids)` is the query to start from.

    The page's rows are read by primary key after their ids: the ids come from the
    order's index (with OFFSET in page mode: a deep page skips index entries, not rows,
    and with a covering index never visits the table), merged across `partition`'s
    parts on PostgreSQL. One query either way."""
    pagination: dict[str, Any]
    ordered = queryset.order_by(*[_order_expression(queryset, key) for key in order])
    if request.cursor:
        values = _decode(request.cursor, order)
        after = ordered.filter(_after(queryset, order, values))
        page = _page(after, order, 0, request.limit + 1, partition, rows)
        has_more = len(page) > request.limit
        page = page[: request.limit]
        pagination = {"limit": request.limit, "hasMore": has_more}
    else:
        offset = (request.page - 1) * request.limit
        count = total() if total else None
        # The first page is read whatever a count says (one from the counters never hides
        # it), and before any COUNT: one that is not full holds every row, so a search's
        # few matches are not looked up twice. A later page is read only if it has rows.
        first = offset == 0
        page = _page(ordered, order, 0, request.limit, partition, rows) if first else []
        if first and count is None and len(page) < request.limit:
            count = len(page)
        if count is None:
            count = queryset.count()
        if not first and offset < count:
            page = _page(ordered, order, offset, request.limit, partition, rows)
        has_more = offset + len(page) < count
        pagination = {
            "page": request.page,
            "limit": request.limit,
            "totalCount": count,
            "totalPages": math.ceil(count / request.limit),
            "hasMore": has_more,
        }
    pagination["nextCursor"] = _encode(page[-1], order) if has_more and page else None
    return page, pagination


def first_rows(
    queryset: QuerySet[Any],
    order: Sequence[str],
    limit: int,
    *,
    partition: Partition | None = None,
    rows: PageRows | None = None,
) -> list[Any]:
    """The first `limit` rows of `queryset` in `order`, read as `paginate` reads a page
    (the ids first, merged across `partition`'s parts; `rows` as paginate's), without
    paging: a dashboard's "most recent" box."""
    ordered = queryset.order_by(*[_order_expression(queryset, key) for key in order])
    return _page(ordered, order, 0, limit, partition, rows)


def _page(
    ordered: QuerySet[Any],
    order: Sequence[str],
    offset: int,
    limit: int,
    partition: Partition | None,
    rows: PageRows | None = None,
) -> list[Any]:
    """`ordered[offset:offset + limit]`, the ids first (a deferred join: the rows' joins
    are made for the page, not for every row the filters keep before the sort)."""
    vendor = connections[ordered.db].vendor
    if partition is not None and vendor == "postgresql" and len(partition.values) > 1:
        ids: Any = _merged_ids(ordered, order, offset, limit, partition)
    else:
        ids = ordered.values("pk")[offset : offset + limit]
    if rows is None:
        return list(ordered.filter(pk__in=ids))
    return list(rows(ordered, order, ids))


def rows_of(ordered: QuerySet[Any], order: Sequence[str], ids: Any) -> QuerySet[Any]:
    """The rows of `ids` in `order`: the model's rows with the annotations `order` sorts
    by (which read the model's own columns), and none of `ordered`'s filters, which the
    ids have passed already (repeated, they cost their compilation again and, on
    PostgreSQL, doubled the planning: 5.1 ms against 2.9 ms for a task page at bench
    scale 0.05). What else the rows carry is the caller's to add."""
    names = [key.lstrip("-") for key in order]
    annotations = ordered.query.annotations
    rows = ordered.model._base_manager.annotate(
        **{name: annotations[name] for name in names if name in annotations}
    )
    return rows.filter(pk__in=ids).order_by(*ordered.query.order_by)


def _merged_ids(
    ordered: QuerySet[Any],
    order: Sequence[str],
    offset: int,
    limit: int,
    partition: Partition,
) -> RawSQL:
    """The ids of `ordered[offset:offset + limit]` from the first `offset + limit` rows of
    each part (each an index range read in order), merged: O(parts x page) index
    entries, whatever the size of the parts."""
    keys = {f"k{n}": F(key.lstrip("-")) for n, key in enumerate(order)}
    head = (
        ordered.filter(**{partition.field: RawSQL('"part"."value"', ())})
        .values(pk_=F("pk"), **keys)[: offset + limit]
        .query
    )
    _drop_scope(head, partition)
    sql, params = head.get_compiler(ordered.db).as_sql()
    merge = ", ".join(
        f"head.k{n} {'DESC' if key.startswith('-') else 'ASC'}"
        + (" NULLS LAST" if _nullable(ordered, key) else "")
        for n, key in enumerate(order)
    )
    return RawSQL(
        f"SELECT head.pk_ FROM unnest(%s::{partition.sql_type}[]) AS part(value) "
        f"CROSS JOIN LATERAL ({sql}) AS head ORDER BY {merge} LIMIT %s OFFSET %s",
        (list(partition.values), *params, limit, offset),
    )


def _drop_scope(query: Query, partition: Partition) -> None:
    """Removes `field IN (values)` from the head's filters: each part is one of the values
    already, and an IN of hundreds would cost hundreds of index descents per part."""
    column = query.model._meta.get_field(partition.field).column  # type: ignore[union-attr]
    values = {str(value) for value in partition.values}
    where = query.where
    if where.connector != AND or where.negated:
        return
    where.children = [
        child
        for child in where.children
        if not (
            isinstance(child, In)
            and getattr(child.lhs, "target", None) is not None
            and child.lhs.target.column == column
            and {str(value) for value in child.rhs} == values
        )
    ]


def _nullable(queryset: QuerySet[Any], key: str) -> bool:
    """Whether `key` may hold nulls: a NOT NULL column sorts without NULLS LAST, so that
    one index serves both directions (read backwards for the other)."""
    name = key.lstrip("-")
    try:
        field = queryset.model._meta.get_field(name)
    except FieldDoesNotExist:
        return not _never_null(queryset.query.annotations.get(name))
    return bool(field.null) or not field.concrete


def _never_null(expression: Any) -> bool:
    """An annotation that cannot be NULL: a CASE whose every outcome is a non-null value
    (the list's priority rank), which an expression index serves in both directions."""
    if not isinstance(expression, Case) or not _non_null_value(expression.default):
        return False
    return all(_non_null_value(when.result) for when in expression.cases)


def _non_null_value(expression: Any) -> bool:
    return isinstance(expression, Value) and expression.value is not None


def _order_expression(queryset: QuerySet[Any], key: str) -> Any:
    name = key.lstrip("-")
    if not _nullable(queryset, key):
        return F(name).desc() if key.startswith("-") else F(name).asc()
    return F(name).desc(nulls_last=True) if key.startswith("-") else F(name).asc(nulls_last=True)


def _after(queryset: QuerySet[Any], order: Sequence[str], values: list[Any]) -> Q:
    """Rows strictly after `values` in `order`: (a > x) | (a = x & b > y) | ...; and
    `a <= x` (`>=` ascending) beside it when `a` is NOT NULL: a range the order's index
    seeks to, instead of reading every row before the cursor."""
    condition = Q(pk__in=[])
    equal_so_far = Q()
    for key, value in zip(order, values, strict=True):
        name = key.lstrip("-")
        lookup = "lt" if key.startswith("-") else "gt"
        if value is None:
            # Nulls sort last: nothing but other nulls follow a null.
            beyond = Q(pk__in=[])
            same = Q(**{f"{name}__isnull": True})
        elif _nullable(queryset, key):
            beyond = Q(**{f"{name}__{lookup}": value}) | Q(**{f"{name}__isnull": True})
            same = Q(**{name: value})
        else:
            beyond = Q(**{f"{name}__{lookup}": value})
            same = Q(**{name: value})
        condition |= equal_so_far & beyond
        equal_so_far &= same
    first, start = order[0], values[0]
    if start is not None and not _nullable(queryset, first):
        bound = "lte" if first.startswith("-") else "gte"
        condition &= Q(**{f"{first.lstrip('-')}__{bound}": start})
    return condition


def _encode(row: Model | Mapping[str, Any], order: Sequence[str]) -> str:
    if isinstance(row, Mapping):
        values = [_plain(row[key.lstrip("-")]) for key in order]
    else:
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
