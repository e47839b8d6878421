from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations: repository webhooks in, signed webhooks out"

    def ready(self) -> None:
        from integrations import outbound
        from realtime import events
        from runs import signals

        # Every change clients are told about is also offered to the workspace's
        # outbound webhook endpoints, in the same transaction (outbox-style).
        events.published.connect(outbound.on_published, dispatch_uid="integrations")
        signals.run_finished.connect(outbound.on_run_finished, dispatch_uid="integrations")
