from django.urls import URLPattern, URLResolver, path

from tasks import views

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
]
