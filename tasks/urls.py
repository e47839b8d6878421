from rest_framework.routers import SimpleRouter

from tasks import views

router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("tasks", views.TaskViewSet, basename="task")
router.register("task-groups", views.TaskGroupViewSet, basename="task-group")
router.register("task-groups", views.GroupTasksViewSet, basename="task-group-tasks")
router.register("repos", views.RepositoryViewSet, basename="repo")
router.register("robots", views.RobotViewSet, basename="robot")

urlpatterns = router.urls
