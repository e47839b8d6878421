"""Priority joins the task counters (tasks.counters), so that a list filtered by status
and priority counts its `totalCount` from them: at 1M tasks, the bench's "tasks
filtered" COUNT read ~35,000 rows of the big workspace (39 ms), ten times what it read
at 100k. The counters are counted again from the tasks, with the new key, both ways."""

from datetime import UTC

from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import TruncDate

BASE_FIELDS = ("workspace_id", "deleted", "archived", "status", "workflow_status", "awaiting_input")


def recount(apps, *, with_priority: bool) -> None:
    # A frozen copy of tasks.counters.rebuild: migrations do not import code that moves on.
    Task = apps.get_model("tasks", "Task")
    TaskCount = apps.get_model("tasks", "TaskCount")
    TaskDayCount = apps.get_model("tasks", "TaskDayCount")
    fields = (*BASE_FIELDS, "priority") if with_priority else BASE_FIELDS
    TaskCount.objects.all().delete()
    TaskDayCount.objects.all().delete()
    rows = Task.objects.order_by().values_list(*fields).annotate(n=Count("pk"))
    counts = []
    for row in rows.values_list(*fields, "n"):
        workspace_id, deleted, archived, status, workflow, awaiting = row[:6]
        key = f"{int(deleted)}{int(archived)}{int(awaiting)}|{status}|{workflow or ''}"
        extra = {"priority": row[6]} if with_priority else {}
        if with_priority:
            key += f"|{row[6]}"
        counts.append(
            TaskCount(
                workspace_id=workspace_id,
                key=key,
                deleted=deleted,
                archived=archived,
                status=status,
                workflow_status=workflow,
                awaiting_input=awaiting,
                n=row[-1],
                **extra,
            )
        )
    TaskCount.objects.bulk_create(counts, batch_size=500)
    days = (
        Task.objects.filter(deleted=False)
        .order_by()
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values_list("workspace_id", "day")
        .annotate(n=Count("pk"))
        .values_list("workspace_id", "day", "n")
    )
    TaskDayCount.objects.bulk_create(
        (TaskDayCount(workspace_id=w, day=day, n=n) for w, day, n in days), batch_size=500
    )


def count_with_priority(apps, schema_editor):
    recount(apps, with_priority=True)


def count_without_priority(apps, schema_editor):
    recount(apps, with_priority=False)


class Migration(migrations.Migration):
    # Each step in its own transaction: PostgreSQL refuses to drop the column (on the
    # way back) in the transaction that just wrote rows with deferred foreign keys.
    atomic = False

    dependencies = [("tasks", "0010_priority_and_workflow_order_indexes")]

    operations = [
        migrations.AddField(
            model_name="taskcount",
            name="priority",
            field=models.CharField(
                choices=[
                    ("LOW", "Low"),
                    ("MEDIUM", "Medium"),
                    ("HIGH", "High"),
                    ("CRITICAL", "Critical"),
                ],
                default="MEDIUM",
                max_length=16,
            ),
        ),
        migrations.RunPython(count_with_priority, count_without_priority, atomic=True),
    ]
