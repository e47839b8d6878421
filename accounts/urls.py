from django.urls import path

from accounts import views

urlpatterns = [
    path("auth/me", views.MeView.as_view(), name="auth-me"),
    path("auth/tokens", views.TokenListView.as_view(), name="auth-tokens"),
    path("auth/tokens/<uuid:token_id>", views.TokenDetailView.as_view(), name="auth-token"),
    path("workspaces", views.WorkspaceListView.as_view(), name="workspaces"),
    path("workspaces/<slug:slug>", views.WorkspaceDetailView.as_view(), name="workspace"),
    path("workspaces/<slug:slug>/members", views.MemberListView.as_view(), name="members"),
    path(
        "workspaces/<slug:slug>/members/<uuid:user_id>",
        views.MemberDetailView.as_view(),
        name="member",
    ),
]
