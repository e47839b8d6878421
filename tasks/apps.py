from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"

    def ready(self) -> None:
        from realtime import authorization
        from tasks import channels

        authorization.register("task-", channels.may_listen_to_task)
        authorization.register("workspace-", channels.may_listen_to_workspace)
