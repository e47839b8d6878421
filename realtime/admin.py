from django.contrib import admin

from realtime.models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ["channel", "seq", "event", "created_at", "sent_at", "attempts"]
    list_filter = ["event"]
    search_fields = ["channel"]
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
    ordering = ["-id"]
