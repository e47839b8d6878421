from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ApiToken, Membership, User, Workspace
from config.changelists import ScaledAdmin, newest_rows_formset

NEWEST_MEMBERS_SHOWN = 50


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("Profile", {"fields": ("name", "image")}))
    list_display = ("username", "email", "name", "is_staff", "is_active")


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = newest_rows_formset(("-created_at", "-id"), NEWEST_MEMBERS_SHOWN)
    verbose_name_plural = f"memberships (newest {NEWEST_MEMBERS_SHOWN})"
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Workspace)
class WorkspaceAdmin(ScaledAdmin):
    list_display = ("slug", "name", "owner", "created_at")
    search_fields = ("slug", "name")
    raw_id_fields = ("owner",)
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ScaledAdmin):
    list_display = ("workspace", "user", "role", "created_at")
    list_filter = ("role",)
    list_select_related = ("workspace", "user")
    search_fields = ("workspace__slug", "user__username", "user__email")
    raw_id_fields = ("workspace", "user")


@admin.register(ApiToken)
class ApiTokenAdmin(ScaledAdmin):
    list_display = (
        "name",
        "prefix",
        "user",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("revoked_at",)
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__username")
    raw_id_fields = ("user",)
    # The secret is never stored; its hash is not shown either.
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are issued by their owner, or by `manage.py issue_token`

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            token.revoke()
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)
