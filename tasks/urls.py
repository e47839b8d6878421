from django.urls import URLPattern, URLResolver, path

from tasks import run_views

urlpatterns: list[URLPattern | URLResolver] = []

# Execution: retry, halt, logs (the SSE stream is a Channels route in config/routing.py).
urlpatterns += [
    path("tasks/<uuid:task_id>/retry", run_views.TaskRetryView.as_view(), name="task-retry"),
    path("tasks/<uuid:task_id>/halt", run_views.TaskHaltView.as_view(), name="task-halt"),
    path("tasks/<uuid:task_id>/logs", run_views.TaskLogsView.as_view(), name="task-logs"),
    path(
        "tasks/<uuid:task_id>/logs/stream",
        run_views.TaskLogStreamView.as_view(),
        name="task-logs-stream",
    ),
]
