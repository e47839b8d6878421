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
splice is the right side of an IN, never under a NOT. `Slots` are a list of values given
when the query runs, as the right side of an IN (`workspace_id__in=Slots("ids",
UUIDField())`), each prepared by the field: the SQL has as many placeholders as the list
has values, and an empty list gives no rows without a query (the same rule).

A `CompiledModelQuery` does the same for a model queryset that reads rows into instances,
with their select_related instances and their annotations: one (`get`), as a task is read
under its lock by every writer of a task (tasks.locks), three times on the path from a
chat message to its robot's answer; or all it gives (`all`), as a page of task groups.

A `CompiledUpdate` is `QuerySet.update` for a queryset whose filter uses slots: compiled
once per set of fields it sets, each value prepared as its field saves it. A run moves
its run and its task four times (runs.worker) and its job once (runs.worker_pool). In one
process on PostgreSQL, Django's update of a task's status cost 0.41-0.46 ms of CPU, the
compiled one 0.30-0.42, the same statement through the cursor 0.24.
"""

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from weakref import WeakKeyDictionary

from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import Expression, Field, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.query import get_related_populators
from django.db.models.sql import UpdateQuery
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError


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


class Literal(Expression):
    """A constant of the code written into the SQL text, not sent as a parameter. A
    prepared statement's generic plan knows no parameter's value, so it cannot use a
    partial index whose condition names one (`WHERE status = 'IN_PROGRESS'`): PostgreSQL
    then plans the statement anew at each run, or reads the whole table. Letters, digits
    and underscores only."""

    def __init__(self, value: str, output_field: Field[Any, Any]) -> None:
        if not re.fullmatch(r"\w+", value):
            raise ValueError(f"not a literal: {value!r}")
        super().__init__(output_field=output_field)
        self.value = value

    def __repr__(self) -> str:
        return f"Literal({self.value!r})"

    def as_sql(self, compiler: SQLCompiler, connection: Any) -> Any:
        return f"'{self.value}'", []

    def get_group_by_cols(self) -> list[Any]:
        return []


class _SetSlot(Slot):
    """A value of an UPDATE's SET, given when it runs: prepared as its field saves it."""

    def as_sql(self, compiler: SQLCompiler, connection: Any) -> Any:
        return "%s", [_Saved(self.name, self.output_field)]


class Slots(Slot):
    """Values given when the query runs, the right side of an IN: a list or tuple, each
    value prepared by `output_field` (see the module's docstring)."""

    def as_sql(self, compiler: SQLCompiler, connection: Any) -> Any:
        listed = _Listed(self.name, self.output_field)
        return listed.marker, [listed]


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
class _Listed:
    """Where a `Slots` list goes: its marker, replaced by a placeholder per value."""

    name: str
    field: Field[Any, Any]

    @property
    def marker(self) -> str:
        return f"/*slots:{self.name}*/"


@dataclass(frozen=True)
class _Saved:
    """Where a set value goes among the compiled parameters of an UPDATE."""

    name: str
    field: Field[Any, Any]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    names: tuple[str, ...]  # the columns, as values() names them
    columns: tuple[Any, ...]  # their expressions, for the converters


Converters = list[tuple[int, list[Callable[..., Any]], Any]]


class _CompiledOnce[C]:
    """What both kinds of compiled query keep: `build()`'s queryset compiled once per
    database (`_compile_one`), and its columns' converters once per connection."""

    def __init__(self, build: Callable[[], QuerySet[Any, Any]]) -> None:
        self.build = build
        self._compiled: dict[str, C] = {}
        self._converters: WeakKeyDictionary[Any, Converters] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def _compile_one(self, queryset: Any, using: str) -> C:
        raise NotImplementedError

    def _compile(self, using: str) -> C:
        compiled = self._compiled.get(using)
        if compiled is not None:
            return compiled
        with self._lock:
            if using not in self._compiled:
                self._compiled[using] = self._compile_one(self.build(), using)
            return self._compiled[using]

    def _convert(self, rows: list[Any], columns: Sequence[Any], connection: Any) -> list[Any]:
        """The rows with their database values converted as Django converts them (the
        rows as they came when no column needs it)."""
        converters = self._converters.get(connection)
        if converters is None:
            converters = self._converters[connection] = _converters(columns, connection)
        if not converters or not rows:
            return rows
        rows = [list(row) for row in rows]
        for row in rows:
            for position, functions, expression in converters:
                value = row[position]
                for function in functions:
                    value = function(value, expression, connection)
                row[position] = value
        return rows


class CompiledQuery(_CompiledOnce[_Compiled]):
    """`build()` returns a values (or values_list) queryset using `Slot`s; `rows(**values)`
    runs it with these slot values and returns its rows as dicts."""

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
        bound = _bind(compiled.sql, compiled.params, values, using)
        if bound is None:
            return compiled.names, []
        with connection.cursor() as cursor:
            cursor.execute(*bound)
            rows = cursor.fetchall()
        return compiled.names, self._convert(rows, compiled.columns, connection)

    def _compile_one(self, queryset: Any, using: str) -> _Compiled:
        return _compile(queryset, using)


def _bind(
    sql: str, params: Sequence[Any], values: Mapping[str, Any], using: str
) -> tuple[str, list[Any]] | None:
    """The compiled statement with this run's values bound (slots prepared by their
    fields, splices and slot lists written in); None: it has no rows (an empty splice or
    list), no need to ask."""
    connection = connections[using]
    bound: list[Any] = []
    for p in params:
        if type(p) is _Bound:
            bound.append(p.field.get_db_prep_value(values[p.name], connection))
        elif type(p) is _Spliced:
            try:
                spliced, spliced_params = _subquery_sql(values[p.name], using)
            except EmptyResultSet:
                return None
            sql = sql.replace(p.marker, spliced, 1)
            bound.extend(spliced_params)
        elif type(p) is _Listed:
            listed = values[p.name]
            if not listed:
                return None
            sql = sql.replace(p.marker, ", ".join(["%s"] * len(listed)), 1)
            bound.extend(p.field.get_db_prep_value(value, connection) for value in listed)
        else:
            bound.append(p)
    return sql, bound


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


def listed(values: Sequence[Any], field: Field[Any, Any], using: str = "default") -> RawSQL:
    """A splice of these values (`pk__in=Splice("ids")`, then `ids=listed(ids, UUIDField())`),
    each prepared by `field`; Django's `filter(pk__in=ids).values("pk")` instead compiles a
    query for the splice on each run. No values: no rows, without a query."""
    connection = connections[using]
    prepared = [field.get_db_prep_value(value, connection) for value in values]
    return RawSQL(", ".join(["%s"] * len(prepared)), prepared)


def _subquery_sql(subquery: Any, using: str) -> tuple[str, Sequence[Any]]:
    if isinstance(subquery, RawSQL):
        if not subquery.sql:  # listed([])
            raise EmptyResultSet
        return subquery.sql, subquery.params
    sql, params = subquery.query.get_compiler(using).as_sql()
    return sql, params


def _converters(columns: Sequence[Any], connection: Any) -> Converters:
    """The functions that convert each column's database value, as `values()` applies
    them (the same for every run on one connection)."""
    found = []
    for position, expression in enumerate(columns):
        functions = connection.ops.get_db_converters(expression) + expression.get_db_converters(
            connection
        )
        if functions:
            found.append((position, functions, expression))
    return found


@dataclass(frozen=True)
class _CompiledModel:
    sql: str
    params: tuple[Any, ...]
    columns: tuple[Any, ...]  # the select's expressions, for the converters
    model: Any  # a Model class
    init: tuple[str, ...]  # the model's attnames, in the row's order
    fields: slice  # where they are in the row
    populators: tuple[Any, ...]  # the select_related instances
    annotations: tuple[tuple[str, int], ...]
    fetch_mode: Any
    locks: bool  # SELECT ... FOR UPDATE: only inside a transaction


class CompiledModelQuery(_CompiledOnce[_CompiledModel]):
    """`build()` returns a model queryset using `Slot`s (select_related, annotations and
    select_for_update allowed); `get(**values)` runs it and returns its one instance, as
    `QuerySet.get` would, and `all(**values)` every instance, building them as Django's
    model iterable does."""

    def get(self, using: str = "default", **values: Any) -> Any:
        found = self._instances(using, values, 2)
        if len(found) != 1:
            model = self._compile(using).model
            error = model.DoesNotExist if not found else model.MultipleObjectsReturned
            raise error(f"{model._meta.object_name} matching query: {len(found) or 'none'}.")
        return found[0]

    def all(self, using: str = "default", **values: Any) -> list[Any]:
        """Every instance the query gives, in its order."""
        return self._instances(using, values, None)

    def _instances(self, using: str, values: Mapping[str, Any], most: int | None) -> list[Any]:
        compiled = self._compile(using)
        connection = connections[using]
        if compiled.locks and connection.get_autocommit():
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        bound = _bind(compiled.sql, compiled.params, values, using)
        if bound is None:
            return []
        with connection.cursor() as cursor:
            cursor.execute(*bound)
            rows = cursor.fetchall() if most is None else cursor.fetchmany(most)
        found = []
        for row in self._convert(rows, compiled.columns, connection):
            own = row[compiled.fields]
            obj = compiled.model.from_db(using, compiled.init, own, fetch_mode=compiled.fetch_mode)
            for populator in compiled.populators:
                populator.populate(row, obj)
            for name, position in compiled.annotations:
                setattr(obj, name, row[position])
            found.append(obj)
        return found

    def _compile_one(self, queryset: Any, using: str) -> _CompiledModel:
        return _compile_model(queryset, using)


def _compile_model(queryset: Any, using: str) -> _CompiledModel:
    """What Django's model iterable reads off its compiler, read once (a QuerySet; its
    fetch mode and prefetches are private attributes)."""
    if queryset._prefetch_related_lookups or queryset._fetch_mode.track_peers:
        raise ValueError("A CompiledModelQuery reads one row: no prefetch, no peers.")
    compiler = queryset.query.get_compiler(using)
    sql, params = compiler.as_sql()
    select, klass_info = compiler.select, compiler.klass_info
    assert klass_info is not None
    fields = slice(klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1)
    return _CompiledModel(
        sql=sql,
        params=tuple(params),
        columns=tuple(column for column, _, _ in select[: compiler.col_count]),
        model=klass_info["model"],
        init=tuple(column.target.attname for column, _, _ in select[fields]),
        fields=fields,
        populators=tuple(get_related_populators(klass_info, select, using, queryset._fetch_mode)),
        annotations=tuple(compiler.annotation_col_map.items()),
        fetch_mode=queryset._fetch_mode,
        locks=bool(queryset.query.select_for_update),
    )


class CompiledUpdate:
    """`build()` returns a model queryset whose filter uses `Slot`s; `update(values,
    **slot_values)` sets `values` (field name -> value) on its rows as `QuerySet.update`
    does and returns how many it changed. Compiled once per database and tuple of field
    names; where a value is an expression (`F("retries") + 1`) the statement is compiled
    with it, at each run."""

    def __init__(self, build: Callable[[], QuerySet[Any, Any]]) -> None:
        self.build = build
        self._compiled: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[Any, ...]]] = {}
        self._lock = threading.Lock()

    def update(self, values: Mapping[str, Any], using: str = "default", **slots: Any) -> int:
        sql, bound = self.statement(values, using, **slots)
        connection = connections[using]
        with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
            cursor.execute(sql, bound)
            return int(cursor.rowcount)

    def statement(
        self, values: Mapping[str, Any], using: str = "default", **slots: Any
    ) -> tuple[str, list[Any]]:
        """The UPDATE and its parameters, for a caller that runs it (config.fused)."""
        if any(hasattr(value, "resolve_expression") for value in values.values()):
            sql, params = self._compile_one(using, values)
        else:
            key = (using, tuple(values))
            compiled = self._compiled.get(key)
            if compiled is None:
                with self._lock:
                    if key not in self._compiled:
                        self._compiled[key] = self._compile_one(using, None, key[1])
                    compiled = self._compiled[key]
            sql, params = compiled
        connection = connections[using]
        bound = []
        for p in params:
            if type(p) is _Saved:
                bound.append(p.field.get_db_prep_save(values[p.name], connection))
            elif type(p) is _Bound:
                bound.append(p.field.get_db_prep_value(slots[p.name], connection))
            else:
                bound.append(p)
        return sql, bound

    def _compile_one(
        self, using: str, values: Mapping[str, Any] | None, names: Sequence[str] = ()
    ) -> tuple[str, tuple[Any, ...]]:
        """The statement that sets `values`, or (None) a slot for each of `names`."""
        queryset = self.build()
        if values is None:
            meta = queryset.model._meta
            values = {name: _SetSlot(name, meta.get_field(name)) for name in names}
        query = cast(UpdateQuery, queryset.query.chain(UpdateQuery))
        query.add_update_values(dict(values))
        if query.get_related_updates():
            raise ValueError("A CompiledUpdate sets the columns of its model's own table.")
        sql, params = query.get_compiler(using).as_sql()
        return sql, tuple(params)
