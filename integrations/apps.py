from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations: repository webhooks in, signed webhooks out"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from integrations import outbound
        from integrations.models import WebhookEndpoint
        from realtime import events
        from runs import signals
        from tasks import locks

        # Every change clients are told about is also offered to the workspace's
        # outbound webhook endpoints, in the same transaction (outbox-style).
        events.published.connect(outbound.on_published, dispatch_uid="integrations")
        events.reads_when_published.connect(
            outbound.reads_when_published, dispatch_uid="integrations"
        )
        signals.run_finished.connect(outbound.on_run_finished, dispatch_uid="integrations")
        # A transaction remembers who listens (outbound._listening) until one changes.
        for changed in (post_save, post_delete):
            changed.connect(outbound.forget_listening, sender=WebhookEndpoint)
        # ... and a transaction that locked its task learns with it whether anyone does.
        locks.annotate_locked("webhooks_enabled", outbound.webhooks_enabled)
