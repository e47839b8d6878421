"""Queries of a fixed shape, compiled to SQL once per database and then run with new
values.

Django builds and compiles a query on every call. For the small reads that every request
makes (its API token, the caller's roles, the task a chat page or its logs belong to)
that took more Python time than PostgreSQL took to answer them. A `CompiledQuery` holds
a function that builds a values queryset whose varying values are `Slot`s; its first run
on a database compiles it, and every run binds the slots' values (each prepared by its
field, as Django prepares a lookup's value), runs that SQL through the connection's
cursor (so query logging and counting see it) and converts the columns as `values()`
would. Nothing else in the query may vary: a value read at build time (a `now()`, a
setting) is frozen into the SQL, so it must be a slot. A `Splice` is a subquery given
when the query runs (`pk__in=Splice("ids")`, then `rows(ids=queryset)`): only that
subquery is compiled on each run, and its SQL and parameters take the splice's place. A
subquery that Django knows to be empty (`pk__in=[]`) gives no rows without a query: a
splice is the right side of an IN, never under a NOT.
"""

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Expression, Field, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.sql.compiler import SQLCompiler


class Slot(Expression):
    """A value given when the query runs (`CompiledQuery.rows(name=value)`); `output_field`
    prepares it for the database."""

    def __init__(self, name: str, output_field: Field[Any, Any]) -> None:
        super().__init__(output_field=output_field)
        self.name = name

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"

    def as_sql(self, compiler: SQLCompiler, connection: Any) -> Any:
        return "%s", [_Bound(self.name, self.output_field)]

    def get_group_by_cols(self) -> list[Any]:
        return []


class Splice(Expression):
    """A subquery given when the query runs: a values queryset of one column, or a
    RawSQL (`CompiledQuery.rows(name=subquery)`), e.g. `filter(pk__in=Splice("ids"))`."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __repr__(self) -> str:
        return f"Splice({self.name!r})"

    def as_sql(self, compiler: SQLCompiler, connection: Any) -> Any:
        return _Spliced(self.name).marker, [_Spliced(self.name)]

    def get_group_by_cols(self) -> list[Any]:
        return []


@dataclass(frozen=True)
class _Spliced:
    """Where a splice's SQL goes (its marker, a comment) and its parameters."""

    name: str

    @property
    def marker(self) -> str:
        return f"/*splice:{self.name}*/"


@dataclass(frozen=True)
class _Bound:
    """Where a slot's value goes among the compiled parameters."""

    name: str
    field: Field[Any, Any]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    names: tuple[str, ...]  # the columns, as values() names them
    columns: tuple[Any, ...]  # their expressions, for the converters


Converters = list[tuple[int, list[Callable[..., Any]], Any]]


class CompiledQuery:
    """`build()` returns a values (or values_list) queryset using `Slot`s; `rows(**values)`
    runs it with these slot values and returns its rows as dicts."""

    def __init__(self, build: Callable[[], QuerySet[Any, Any]]) -> None:
        self.build = build
        self._compiled: dict[str, _Compiled] = {}
        self._converters: WeakKeyDictionary[Any, Converters] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def rows(self, using: str = "default", **values: Any) -> list[dict[str, Any]]:
        names, rows = self._run(using, values)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def tuples(self, using: str = "default", **values: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._run(using, values)[1]]

    def sql(self, using: str = "default") -> str:
        return self._compile(using).sql

    def _run(self, using: str, values: Mapping[str, Any]) -> tuple[tuple[str, ...], list[Any]]:
        compiled = self._compile(using)
        connection = connections[using]
        sql, params = compiled.sql, []
        for p in compiled.params:
            if type(p) is _Bound:
                params.append(p.field.get_db_prep_value(values[p.name], connection))
            elif type(p) is _Spliced:
                try:
                    spliced, spliced_params = _subquery_sql(values[p.name], using)
                except EmptyResultSet:
                    return compiled.names, []
                sql = sql.replace(p.marker, spliced, 1)
                params.extend(spliced_params)
            else:
                params.append(p)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        converters = self._converters.get(connection)
        if converters is None:
            converters = self._converters[connection] = _converters(compiled, connection)
        if converters and rows:
            rows = [list(row) for row in rows]
            for row in rows:
                for position, functions, expression in converters:
                    value = row[position]
                    for function in functions:
                        value = function(value, expression, connection)
                    row[position] = value
        return compiled.names, rows

    def _compile(self, using: str) -> _Compiled:
        compiled = self._compiled.get(using)
        if compiled is not None:
            return compiled
        with self._lock:
            if using not in self._compiled:
                self._compiled[using] = _compile(self.build(), using)
            return self._compiled[using]


def _compile(queryset: QuerySet[Any, Any], using: str) -> _Compiled:
    query = queryset.query
    compiler = query.get_compiler(using)
    sql, params = compiler.as_sql()
    if query.selected:
        names = tuple(query.selected)
    else:
        names = (*query.extra_select, *query.values_select, *query.annotation_select)
    columns = tuple(column for column, _, _ in compiler.select[: compiler.col_count])
    if len(names) != len(columns):
        raise ValueError("A CompiledQuery is built from a values() or values_list() queryset.")
    return _Compiled(sql, tuple(params), names, columns)


def _subquery_sql(subquery: Any, using: str) -> tuple[str, Sequence[Any]]:
    if isinstance(subquery, RawSQL):
        return subquery.sql, subquery.params
    sql, params = subquery.query.get_compiler(using).as_sql()
    return sql, params


def _converters(compiled: _Compiled, connection: Any) -> Converters:
    """The functions that convert each column's database value, as `values()` applies
    them (the same for every run on one connection)."""
    found = []
    for position, expression in enumerate(compiled.columns):
        functions = connection.ops.get_db_converters(expression) + expression.get_db_converters(
            connection
        )
        if functions:
            found.append((position, functions, expression))
    return found
