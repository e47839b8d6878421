from rest_framework.routers import SimpleRouter

from chat import views

router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("chat/messages", views.MessageViewSet, basename="chat-message")
router.register("chat/attachments", views.AttachmentViewSet, basename="chat-attachment")
router.register("chat", views.ChatViewSet, basename="chat")
router.register("tasks", views.TaskMessagesViewSet, basename="task-messages")
router.register("uploads", views.UploadViewSet, basename="upload")

urlpatterns = router.urls
