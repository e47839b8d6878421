"""An admin site with a Task admin using ChatMessageInline, as tasks/admin.py will wire it."""

from django.contrib import admin
from django.urls import path

from chat.admin import ChatMessageAdmin, ChatMessageInline
from chat.models import ChatMessage
from tasks.models import Task

site = admin.AdminSite(name="chat_inline_test")


class TaskWithMessagesAdmin(admin.ModelAdmin):
    inlines = [ChatMessageInline]


site.register(Task, TaskWithMessagesAdmin)
site.register(ChatMessage, ChatMessageAdmin)

urlpatterns = [path("admin/", site.urls)]
