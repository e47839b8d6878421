"""The console's pages (dashboard/console.py), mounted at the site's root."""

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, path

from dashboard import console

urlpatterns: list[URLPattern] = [
    path("", console.home, name="console-home"),
    path("login", console.SignInView.as_view(), name="console-login"),
    path("logout", auth_views.LogoutView.as_view(), name="console-logout"),
    path("w/<slug:slug>/tasks", console.tasks_page, name="console-tasks"),
    path("w/<slug:slug>/groups", console.groups_page, name="console-groups"),
    path("w/<slug:slug>/settings", console.settings_page, name="console-settings"),
    path("tasks/<str:task_id>", console.task_page, name="console-task"),
    path("groups/<str:group_id>", console.group_page, name="console-group"),
]
