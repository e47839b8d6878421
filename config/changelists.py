"""Staff admin changelists that stay quick at a million rows: every app's admin builds on
these (config is the lowest layer).

A changelist never counts a whole table: Django's full result count is off, and the
paginator counts at most COUNT_CAP + 1 rows of the filtered list (`COUNT(*)` over a
`LIMIT` subquery). Past the cap an unfiltered list on PostgreSQL shows the planner's row
estimate (pg_class.reltuples), a filtered one "more than COUNT_CAP": the pages up to there
are linked, and filters or search narrow the rest. Inlines show their newest rows only.
"""

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.utils.functional import cached_property

COUNT_CAP = 10_000
INLINE_ROWS = 20


class BoundedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows; beyond, the table's estimate when unfiltered."""

    @cached_property
    def count(self) -> int:
        queryset: Any = self.object_list
        bounded = int(queryset.order_by()[: COUNT_CAP + 1].count())
        if bounded <= COUNT_CAP:
            return bounded
        connection = connections[queryset.db]
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > bounded:
                return int(row[0])
        return bounded


class ScaledAdmin(admin.ModelAdmin):
    """No full result count, a bounded paginator, 50 rows a page. Each admin names an
    ordering that an index serves."""

    show_full_result_count = False
    list_per_page = 50
    paginator = BoundedCountPaginator


def newest_rows_formset(order: tuple[str, ...], limit: int = INLINE_ROWS) -> type:
    """An inline formset that shows the first `limit` rows in `order` (say, the newest)
    instead of every row of the parent."""

    class NewestRowsFormSet(BaseInlineFormSet):
        def get_queryset(self) -> QuerySet[Any]:
            if not hasattr(self, "_newest"):
                rows = super().get_queryset()
                ids = list(rows.order_by(*order).values_list("pk", flat=True)[:limit])
                self._newest = rows.filter(pk__in=ids).order_by(*order)
            return self._newest

    return NewestRowsFormSet
