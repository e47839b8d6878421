from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime events"

    def ready(self) -> None:
        from realtime import checks  # noqa: F401  (registers the deploy check)
