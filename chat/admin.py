from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from chat.models import Artifact, Attachment, ChatMessage

NEWEST_MESSAGES_SHOWN = 50


class ArtifactInline(admin.TabularInline):
    model = Artifact
    extra = 0
    fields = ("position", "type", "icon", "content", "answered_at")


class AttachmentInline(admin.TabularInline):
    model = Attachment
    extra = 0
    fields = ("position", "filename", "mime_type", "size", "path")


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ("short_message", "role", "status", "task", "created_by", "timestamp")
    list_filter = ("role", "status")
    list_select_related = ("task", "created_by")
    search_fields = ("message", "task__title", "client_message_id")
    raw_id_fields = ("task", "reply", "created_by")
    readonly_fields = ("id", "source_websocket_id", "client_message_id")
    date_hierarchy = "timestamp"
    inlines = [ArtifactInline, AttachmentInline]

    @admin.display(description="message")
    def short_message(self, message: ChatMessage) -> str:
        return message.message[:80]


class NewestMessagesFormSet(BaseInlineFormSet):
    """Only the newest messages of the task: a long thread would make the page unusable."""

    def get_queryset(self) -> QuerySet[ChatMessage]:
        if not hasattr(self, "_newest"):
            thread = super().get_queryset()
            newest = list(
                thread.order_by("-timestamp", "-id").values_list("pk", flat=True)[
                    :NEWEST_MESSAGES_SHOWN
                ]
            )
            self._newest = thread.filter(pk__in=newest).order_by("-timestamp", "-id")
        return self._newest


class ChatMessageInline(admin.TabularInline):
    """Read-only, the newest 50 messages of a task; runs/admin.py shows it on the Task admin."""

    model = ChatMessage
    formset = NewestMessagesFormSet
    fk_name = "task"
    extra = 0
    fields = ("timestamp", "role", "status", "message", "created_by")
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = f"chat messages (newest {NEWEST_MESSAGES_SHOWN})"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatMessage]:
        return super().get_queryset(request).select_related("created_by")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
