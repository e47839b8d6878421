from rest_framework.routers import SimpleRouter

from accounts import views

router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("auth/me", views.MeViewSet, basename="auth-me")
router.register("auth/tokens", views.TokenViewSet, basename="auth-token")
router.register("workspaces/<slug:slug>/members", views.MemberViewSet, basename="member")
router.register("workspaces", views.WorkspaceViewSet, basename="workspace")

urlpatterns = router.urls
