from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops import pulse

        pulse.start_if_worker()  # in `db_worker` processes: the worker heartbeat
