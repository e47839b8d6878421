from django.contrib import admin

from config.changelists import ScaledAdmin, recent_values_filter
from realtime.models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(ScaledAdmin):
    list_display = ["channel", "seq", "event", "created_at", "sent_at", "attempts"]
    list_filter = [recent_values_filter("event")]
    # A channel's events, by its exact name (outbox_channel_seq_uniq).
    search_fields = ["channel__exact"]
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
    ordering = ["-id"]
