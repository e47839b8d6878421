from django.core.management import call_command

from accounts.models import Workspace
from tasks.models import Repository, Robot, Task, TaskGroup


def test_seed_demo_fills_tasks_once(db, capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    workspace = Workspace.objects.get(slug="demo")
    assert Repository.objects.filter(workspace=workspace).count() == 2
    assert Robot.objects.filter(workspace=workspace, runner="scripted").count() == 3
    shell = Robot.objects.get(workspace=workspace, runner="command")
    assert shell.config == {"profile": "demo-shell"}
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


def test_the_demo_command_robot_runs_in_the_sandbox(transactional_db, settings):
    from runs.models import TaskLog
    from runs.services import queue_run
    from tests.factories import TaskFactory

    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    call_command("seed_demo")
    workspace = Workspace.objects.get(slug="demo")
    robot = Robot.objects.get(workspace=workspace, name="Shell robot")
    task = TaskFactory(workspace=workspace, robot=robot, prompt="hello from the demo")
    run = queue_run(task)
    run.refresh_from_db()
    assert run.status == "COMPLETED", list(TaskLog.objects.filter(task=task).values_list("line"))
    task.refresh_from_db()
    assert task.output_text == "The demo shell robot read:\nhello from the demo"
