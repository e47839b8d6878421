from django.db import migrations

# Jobs queued before the move still name the tasks app's modules.
MOVED = {
    "tasks.jobs.run_task": "runs.worker.run_task",
    "tasks.jobs.reap_stale_runs_job": "runs.reaper.reap_stale_runs_job",
}


def rename(apps, schema_editor, renames):
    DBTaskResult = apps.get_model("django_tasks_database", "DBTaskResult")
    for old, new in renames.items():
        DBTaskResult.objects.filter(task_path=old, status="READY").update(task_path=new)


def forwards(apps, schema_editor):
    rename(apps, schema_editor, MOVED)


def backwards(apps, schema_editor):
    rename(apps, schema_editor, {new: old for old, new in MOVED.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0001_initial"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
