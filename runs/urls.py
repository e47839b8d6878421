from rest_framework.routers import SimpleRouter

from runs import views

# Under the task resource: /api/tasks/{id}/retry, /halt, /logs, /logs/stream (the stream
# is served by the Channels consumer in config/routing.py under ASGI).
router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("tasks", views.TaskRunViewSet, basename="task-run")

urlpatterns = router.urls
