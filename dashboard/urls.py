from django.urls import URLPattern, URLResolver, path

from dashboard import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("dashboard/sidebar", views.SidebarView.as_view(), name="dashboard-sidebar"),
    path(
        "workspaces/<slug:slug>/tasks/notifications-count",
        views.NotificationsCountView.as_view(),
        name="notifications-count",
    ),
]
