"""The attack of issue 13, replayed step by step: any account creates a workspace (and so
becomes its OWNER), creates a `command` robot with its own argv that prints
DATABASE_URL (through env_allow) and reads another workspace's chat from the database
file, and runs it.

With the defaults it fails at step 2, the robot: a raw argv/env_allow from a non-staff
caller is 403 RAW_RUNNER_CONFIG and nothing is stored. With WORKSPACE_CREATION=staff it
fails at step 1. And if the operator (staff) had stored that very robot, its run still
gets nothing: env_allow is refused, and without it the command runs in the sandbox as
an unprivileged uid with no server variable and no view of the database file."""

import pytest
from django.conf import settings

from chat.models import ChatMessage
from runs.models import TaskLog
from runs.services import queue_run
from tasks.models import Robot, Task
from tests.factories import RobotFactory, TaskFactory
from tests.personas import assert_error

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_CHAT = "the other workspace's private plan"


def attack_script() -> str:
    database = settings.DATABASES["default"]["NAME"]
    return (
        "id; python3 -c \"import os,sys; print('DB=' + os.environ.get('DATABASE_URL', ''));"
        f"d=open({str(database)!r}, 'rb').read(); print('LEAK' if b'private plan' in d else 'no')\""
    )


def robot_body(workspace_id: str) -> dict:
    return {
        "workspaceId": workspace_id,
        "name": "pwn",
        "runner": "command",
        "config": {"argv": ["sh", "-c", attack_script()], "env_allow": ["DATABASE_URL"]},
    }


def test_the_attack_fails_at_the_robot(api, people, workspace, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", settings.DATABASE_URL)
    victim_task = TaskFactory(workspace=workspace)
    ChatMessage.objects.create(task=victim_task, role="USER", message=SECRET_CHAT)
    attacker = api("outsider")  # an ordinary account, member of nothing of the victim's

    # Step 1: a workspace of its own: allowed by default (WORKSPACE_CREATION=any).
    created = attacker.post("/api/workspaces", {"slug": "pwn", "name": "pwn"}, format="json")
    assert created.status_code == 201
    own_id = created.json()["data"]["id"]

    # Step 2: the command robot with its own argv and env_allow: refused, nothing stored.
    body = assert_error(
        attacker.post("/api/robots", robot_body(own_id), format="json"), 403, "RAW_RUNNER_CONFIG"
    )
    assert "argv" in body["error"] and "env_allow" in body["error"]
    assert not Robot.objects.filter(workspace_id=own_id).exists()
    assert not Task.objects.filter(workspace_id=own_id).exists()


def test_with_staff_only_workspaces_it_fails_at_the_first_step(api, settings):
    settings.WORKSPACE_CREATION = "staff"
    response = api("outsider").post("/api/workspaces", {"slug": "pwn", "name": "p"}, format="json")
    assert_error(response, 403, "FORBIDDEN")


def test_the_same_robot_stored_by_the_operator_still_gets_nothing(people, monkeypatch):
    """Defence in depth: the run of that very config (were it stored) leaks nothing."""
    monkeypatch.setenv("DATABASE_URL", settings.DATABASE_URL)
    victim_task = TaskFactory(workspace=people.workspace)
    ChatMessage.objects.create(task=victim_task, role="USER", message=SECRET_CHAT)
    own = people.elsewhere
    config = robot_body(str(own.id))["config"]
    robot = RobotFactory(workspace=own, runner="command", config=config)
    run = queue_run(TaskFactory(workspace=own, robot=robot))
    run.refresh_from_db()
    assert run.status == "FAILED" and "env_allow" in run.error  # refused before starting

    robot.config = {"argv": config["argv"]}
    robot.save()
    task = TaskFactory(workspace=own, robot=robot)
    run = queue_run(task)
    run.refresh_from_db()
    lines = TaskLog.objects.filter(task=task).exclude(stream="system")
    out = "\n".join(lines.values_list("line", flat=True))
    assert "uid=0(" not in out and "uid=" in out
    assert "DB=\n" in out + "\n" and settings.DATABASE_URL not in out
    assert "LEAK" not in out and ("FileNotFoundError" in out or "No such file" in out)
