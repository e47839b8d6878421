from rest_framework.routers import SimpleRouter

from dashboard import views

router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("dashboard", views.DashboardViewSet, basename="dashboard")
router.register("workspaces", views.WorkspaceTasksViewSet, basename="workspace-tasks")

urlpatterns = router.urls
