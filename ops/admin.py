from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ops.models import Alert


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("resolved", "Resolved"), ("all", "All")]

    def choices(self, changelist):  # type: ignore[no-untyped-def]
        # "Open" is the default: the list is what needs attention now.
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Open",
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Alert]) -> QuerySet[Alert]:
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        if self.value() == "all":
            return queryset
        return queryset.filter(resolved_at__isnull=True)


@admin.register(Alert)
class NeedsAttentionAdmin(admin.ModelAdmin):
    list_display = ["kind", "detail", "task", "robot", "opened_at", "last_seen_at", "resolved_at"]
    list_filter = [OpenFilter, "kind"]
    list_select_related = ["task", "robot"]
    readonly_fields = [f.name for f in Alert._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
