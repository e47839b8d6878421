from django.core.management import call_command

from accounts.models import Workspace
from tasks.models import Repository, Robot, Task, TaskGroup


def test_seed_demo_fills_tasks_once(db, capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    workspace = Workspace.objects.get(slug="demo")
    assert Repository.objects.filter(workspace=workspace).count() == 2
    assert Robot.objects.filter(workspace=workspace, runner="scripted").count() == 3
    assert TaskGroup.objects.filter(workspace=workspace).count() == 5
    tasks = Task.objects.filter(workspace=workspace)
    assert tasks.count() == 40
    assert set(tasks.values_list("workflow_status", flat=True)) >= {
        None,
        "PENDING",
        "IN_PROGRESS",
        "COMPLETED",
        "FAILED",
        "ERROR",
        "HALTED",
    }
    # The chat demo puts one FORM question on an active task.
    waiting = tasks.filter(awaiting_input=True, workflow_status__in=["PENDING", "IN_PROGRESS"])
    assert waiting.count() == 1
    assert tasks.filter(archived=True).exists()
