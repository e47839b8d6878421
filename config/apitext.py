"""Columns of a values() query that PostgreSQL writes as the API writes them.

A datetime of a values() row cost Python about 3 µs before it was JSON text: psycopg
built the datetime, Django's loader set its time zone (`replace`), the row's writer
called `isoformat()` and put the `Z`. A UUID cost 0.8 µs (the UUID object, then `str`).
Where a column only goes out as text (not an order key, not a key that rows are matched
by), `as_text(queryset, *names)` has PostgreSQL write it: a datetime in ISO 8601, UTC,
with `Z`, and microseconds only when there are any (`datetime.isoformat`'s rule, which
DRF's DateTimeField and tasks.events.iso follow), a UUID in its hyphenated form.

On SQLite the columns stay as they are: Django's converters read its stored text, and
`Now()` there writes milliseconds, not microseconds. The rows' writers take either: a
string is already the API's text (config.representation.datetimes, runs.logs).
"""

from typing import Any

from django.db.models import Func, QuerySet

# `to_char` in UTC; the microseconds only when the value has any.
_DATETIME = (
    "to_char({value} AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', {value}) = {value} "
    """THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)"""
)


class ApiText(Func):
    """A datetime or UUID column, as the API's text on PostgreSQL (as it is elsewhere). Its
    output field stays the column's, so that other databases convert it as before."""

    arity = 1

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **extra: Any) -> Any:
        return compiler.compile(self.source_expressions[0])

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = compiler.compile(self.source_expressions[0])
        field: Any = self.output_field
        kind = (field.target_field if field.is_relation else field).get_internal_type()
        if kind == "DateTimeField":
            return _DATETIME.format(value=sql), (*params, *params, *params)
        if kind == "UUIDField":
            return f"({sql})::text", params
        raise ValueError(f"ApiText writes datetimes and UUIDs, not a {kind}")


def as_text[Q: QuerySet[Any, Any]](queryset: Q, *names: str) -> Q:
    """`queryset` (a values() or values_list() query, ordered already) with these of its
    columns written by the database as the API writes them. None of them may be an order
    key: Django orders by a selected column's position, which would sort its text."""
    queryset = queryset.all()
    query = queryset.query
    ordered_by = {_order_key(key) for key in query.order_by} & set(names)
    if ordered_by:
        raise ValueError(f"An order key is not written as text: {', '.join(map(str, ordered_by))}")
    select = list(query.select)
    for name in names:
        position = (query.selected or {}).get(name)
        if not isinstance(position, int):
            raise ValueError(f"{name!r} is not a column of this values() query")
        select[position] = ApiText(select[position])
    query.select = tuple(select)
    return queryset


def _order_key(key: Any) -> str | None:
    if isinstance(key, str):
        return key.lstrip("-")
    expression = getattr(key, "expression", key)  # OrderBy(F(...))
    return getattr(expression, "name", None)
