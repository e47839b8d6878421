from django.urls import URLPattern, URLResolver, path

from chat import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("chat", views.ChatExecuteView.as_view(), name="chat-execute"),
    path("chat/message", views.PostMessageView.as_view(), name="chat-message-create"),
    path(
        "chat/messages/<uuid:message_id>",
        views.MessageDetailView.as_view(),
        name="chat-message-detail",
    ),
    path(
        "chat/attachments/<uuid:attachment_id>/download",
        views.AttachmentDownloadView.as_view(),
        name="chat-attachment-download",
    ),
    path(
        "tasks/<uuid:task_id>/messages",
        views.TaskMessagesView.as_view(),
        name="task-messages",
    ),
    path("uploads", views.UploadView.as_view(), name="uploads"),
]
