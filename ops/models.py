"""What the operator looks at: what needs attention (which workers are alive is
runs.WorkerPresence)."""

from django.db import models

from runs.models import TaskRun
from tasks.models import Robot, Task


class AlertKind(models.TextChoices):
    STUCK_PENDING = "stuck_pending", "Queued, no worker claims it"
    STALE_HEARTBEAT = "stale_heartbeat", "Running, heartbeat stale"
    FAILURE_SPIKE = "failure_spike", "Robot failure rate spike"


class Alert(models.Model):
    """A condition the periodic check found (ops.alerts); resolved when it no longer
    holds. Open alerts are the admin's "Needs attention" list."""

    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.CASCADE)
    run = models.ForeignKey(TaskRun, null=True, blank=True, on_delete=models.CASCADE)
    robot = models.ForeignKey(Robot, null=True, blank=True, on_delete=models.CASCADE)
    detail = models.TextField()
    opened_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "alert"
        verbose_name_plural = "Needs attention"
        ordering = ["-opened_at"]
        indexes = [
            models.Index(
                fields=["kind"], condition=models.Q(resolved_at__isnull=True), name="alert_open_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.detail}"
