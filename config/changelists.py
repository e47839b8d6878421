"""Staff admin changelists that stay quick at a million rows: every app's admin builds on
these (config is the lowest layer).

A changelist never counts a whole table: Django's full result count is off, and the
paginator counts at most COUNT_CAP + 1 rows of the filtered list (`COUNT(*)` over a
`LIMIT` subquery). Past the cap an unfiltered list on PostgreSQL shows the planner's row
estimate (pg_class.reltuples), a filtered one "more than COUNT_CAP": the pages up to there
are linked, and filters or search narrow the rest. A filter on a free-text column offers
the values of the newest rows (Django's own reads the whole table for them). Inlines show
their newest rows only.
"""

from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

COUNT_CAP = 10_000
INLINE_ROWS = 20
RECENT_ROWS = 1_000


class BoundedCountPaginator(Paginator):
    """An unfiltered big table: the planner's estimate. Otherwise at most COUNT_CAP + 1
    rows are counted."""

    @cached_property
    def count(self) -> int:
        queryset: Any = self.object_list
        connection = connections[queryset.db]
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > COUNT_CAP:
                return int(row[0])
        return int(queryset.order_by()[: COUNT_CAP + 1].count())


class ScaledAdmin(admin.ModelAdmin):
    """No full result count, a bounded paginator, 50 rows a page. Each admin names an
    ordering that an index serves."""

    show_full_result_count = False
    list_per_page = 50
    paginator = BoundedCountPaginator

    def action_checkbox(self, obj: Any) -> SafeString:
        """Django's row checkbox, the same HTML, written here: Django renders a
        CheckboxInput through the template engine for every row, a fifth of a changelist
        page's time at 50 rows."""
        label = format_html(_("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )


def recent_values_filter(field: str, order: str = "-pk") -> type[admin.SimpleListFilter]:
    """A list filter on `field` offering the values of the last RECENT_ROWS rows in
    `order` (by primary key: the newest, where keys grow): a bounded read, where Django's
    AllValuesFieldListFilter reads the DISTINCT values of every row on each page view."""

    class RecentValuesFilter(admin.SimpleListFilter):
        title = field.replace("_", " ")
        parameter_name = field

        def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
            newest = model_admin.model._default_manager.order_by(order)[:RECENT_ROWS]
            values = {value for value in newest.values_list(field, flat=True) if value}
            return [(value, value) for value in sorted(values)]

        def queryset(self, request: Any, queryset: QuerySet[Any]) -> QuerySet[Any]:
            value = self.value()
            return queryset.filter(**{field: value}) if value else queryset

    return RecentValuesFilter


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
