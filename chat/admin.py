from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from chat.models import Artifact, Attachment, ChatMessage
from config.changelists import ScaledAdmin, newest_rows_formset

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
class ChatMessageAdmin(ScaledAdmin):
    """Newest first (chatmessage_time_idx); search is the message text (its trigram index,
    chatmessage_message_trgm_idx) or a task's id. No date hierarchy: it reads the dates of
    every message."""

    list_display = ("short_message", "role", "status", "task", "created_by", "timestamp")
    list_filter = ("role", "status")
    list_select_related = ("task", "created_by")
    search_fields = ("message", "task__id__exact")
    raw_id_fields = ("task", "reply", "created_by")
    readonly_fields = ("id", "source_websocket_id", "client_message_id")
    ordering = ("-timestamp", "-id")
    inlines = [ArtifactInline, AttachmentInline]

    @admin.display(description="message")
    def short_message(self, message: ChatMessage) -> str:
        return message.message[:80]


class ChatMessageInline(admin.TabularInline):
    """Read-only, the newest 50 messages of a task; runs/admin.py shows it on the Task admin."""

    model = ChatMessage
    # Only the newest messages: a long thread would make the page unusable.
    formset = newest_rows_formset(("-timestamp", "-id"), NEWEST_MESSAGES_SHOWN)
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
