from django.db import migrations


class Migration(migrations.Migration):
    """TaskRun and TaskLog now belong to the runs app (runs 0001 takes them over with
    the same tables): only Django's model state changes, not the database."""

    dependencies = [
        ("tasks", "0003_taskrun_pending_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="TaskLog"),
                migrations.DeleteModel(name="TaskRun"),
            ],
            database_operations=[],
        ),
    ]
