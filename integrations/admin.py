"""The staff admin of the integrations: inbound delivery logs with replay, outbound
endpoints with their delivery logs, "send again" and "send a test event"; and the
webhook URLs on each repository's page."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from config.changelists import ScaledAdmin, newest_rows_formset, recent_values_filter
from integrations import inbound, outbound
from integrations.models import InboundDelivery, WebhookDelivery, WebhookEndpoint
from tasks.admin import RepositoryAdmin
from tasks.models import Repository


@admin.register(InboundDelivery)
class InboundDeliveryAdmin(ScaledAdmin):
    list_display = (
        "received_at",
        "repository",
        "source",
        "event",
        "action",
        "delivery_id",
        "signature_ok",
        "outcome",
        "group",
    )
    list_select_related = ("repository", "group")
    list_filter = ("source", "outcome")
    search_fields = ("delivery_id", "event", "id__exact")
    raw_id_fields = ("repository", "group", "tasks", "replay_of")
    readonly_fields = ("received_at",)
    actions = ["replay"]

    @admin.action(description="Replay the selected deliveries (the stored payload again)")
    def replay(self, request: HttpRequest, queryset: QuerySet[InboundDelivery]) -> None:
        count = 0
        for delivery in queryset.select_related("repository"):
            inbound.replay(delivery)
            count += 1
        self.message_user(request, f"Replayed {count} delivery(ies).", messages.SUCCESS)


NEWEST_DELIVERIES_SHOWN = 20


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    formset = newest_rows_formset(("-created_at", "-id"), NEWEST_DELIVERIES_SHOWN)
    verbose_name_plural = f"deliveries (newest {NEWEST_DELIVERIES_SHOWN})"
    fields = (
        "created_at",
        "event",
        "status",
        "attempts",
        "response_status",
        "duration_ms",
        "next_attempt_at",
        "error",
    )
    readonly_fields = fields
    extra = 0
    max_num = 0
    show_change_link = True


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ScaledAdmin):
    list_display = ("url", "workspace", "enabled", "failing_since", "disabled_reason")
    list_select_related = ("workspace",)
    list_filter = ("enabled",)
    search_fields = ("url", "id__exact")
    raw_id_fields = ("workspace", "created_by")
    readonly_fields = ("failing_since", "disabled_reason", "created_at")
    inlines = [WebhookDeliveryInline]
    actions = ["send_test"]

    @admin.action(description="Send a test event")
    def send_test(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset.select_related("workspace"):
            outbound.send_test(endpoint)
        self.message_user(request, "Test events queued.", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ScaledAdmin):
    list_display = (
        "created_at",
        "endpoint",
        "event",
        "status",
        "attempts",
        "response_status",
        "duration_ms",
        "next_attempt_at",
    )
    list_select_related = ("endpoint",)
    list_filter = ("status", recent_values_filter("event"))
    search_fields = ("message_id", "id__exact")
    raw_id_fields = ("endpoint",)
    actions = ["send_again"]

    @admin.action(description="Send again")
    def send_again(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        for delivery in queryset.select_related("endpoint"):
            outbound.send_again(delivery)
        self.message_user(request, "Queued again.", messages.SUCCESS)


class RepositoryWithWebhooksAdmin(RepositoryAdmin):
    """The repository page with the URLs to paste into GitHub or GitLab; the secret is
    set here but never shown."""

    readonly_fields = ("webhook_urls",)
    exclude = ("webhook_secret",)

    @admin.display(description="Webhook URLs")
    def webhook_urls(self, repository: Repository) -> Any:
        if repository.pk is None:
            return "-"
        return format_html(
            "GitHub: <code>{}</code><br>GitLab: <code>{}</code><br>Secret set: {}",
            repository.webhook_url("github"),
            repository.webhook_url("gitlab"),
            "yes" if repository.webhook_secret else "no (set it through the API)",
        )


admin.site.unregister(Repository)
admin.site.register(Repository, RepositoryWithWebhooksAdmin)
