from django.urls import URLPattern, URLResolver, path

from tasks import run_views, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("tasks", views.TaskListView.as_view(), name="tasks"),
    path("tasks/stats", views.TaskStatsView.as_view(), name="tasks-stats"),
    path("tasks/volume", views.TaskVolumeView.as_view(), name="tasks-volume"),
    path("tasks/<uuid:task_id>", views.TaskDetailView.as_view(), name="task"),
    path("task-groups", views.TaskGroupListView.as_view(), name="task-groups"),
    path("task-groups/<uuid:group_id>", views.TaskGroupDetailView.as_view(), name="task-group"),
    path(
        "task-groups/<uuid:group_id>/tasks",
        views.TaskGroupTasksView.as_view(),
        name="task-group-tasks",
    ),
    path("repos", views.RepositoryListView.as_view(), name="repos"),
    path("repos/<uuid:repo_id>", views.RepositoryDetailView.as_view(), name="repo"),
    path("robots", views.RobotListView.as_view(), name="robots"),
    path("robots/<uuid:robot_id>", views.RobotDetailView.as_view(), name="robot"),
    # Execution: retry, halt, logs (the SSE stream is served by the Channels consumer in
    # config/routing.py; this view documents it in the schema and answers without Channels).
    path("tasks/<uuid:task_id>/retry", run_views.TaskRetryView.as_view(), name="task-retry"),
    path("tasks/<uuid:task_id>/halt", run_views.TaskHaltView.as_view(), name="task-halt"),
    path("tasks/<uuid:task_id>/logs", run_views.TaskLogsView.as_view(), name="task-logs"),
    path(
        "tasks/<uuid:task_id>/logs/stream",
        run_views.TaskLogStreamView.as_view(),
        name="task-logs-stream",
    ),
]
