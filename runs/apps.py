from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Runs and logs"

    def ready(self) -> None:
        from django.tasks.signals import task_enqueued

        from runs import queueing, serializers, services, wakeup
        from tasks import queueing as task_queueing
        from tasks import sections, signals

        sections.add_detail_section("runs", serializers.RUNS_SECTION)
        sections.add_detail_section("logs", serializers.LOGS_SECTION)
        task_queueing.register(
            queueing.with_queue_reason, queueing.slot_values, queueing.with_reason_in
        )

        signals.run_requested.connect(services.on_run_requested, dispatch_uid="runs")
        signals.workflow_set_by_person.connect(
            services.on_workflow_set_by_person, dispatch_uid="runs"
        )
        signals.task_deleting.connect(services.on_task_deleting, dispatch_uid="runs")
        task_enqueued.connect(wakeup.on_task_enqueued, dispatch_uid="runs.wakeup")
