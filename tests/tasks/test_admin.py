"""The staff admin: every tasks model, deleted tasks visible and restorable."""

import pytest
from django.urls import reverse

from runs.models import TaskLog, TaskRun
from tasks.models import Task
from tests.factories import (
    FeatureFactory,
    RepositoryFactory,
    RobotFactory,
    TaskFactory,
    TaskGroupFactory,
)


@pytest.fixture
def rows(workspace):
    repo = RepositoryFactory(workspace=workspace)
    robot = RobotFactory(workspace=workspace, repository=repo)
    group = TaskGroupFactory(workspace=workspace, repository=repo)
    task = TaskFactory(
        ran=True, workspace=workspace, repository=repo, robot=robot, group=group, title="Findme"
    )
    run = TaskRun.objects.create(task=task, number=1)
    TaskLog.objects.create(task=task, run=run, seq=1, line="hello")
    FeatureFactory(workspace=workspace)
    return task


@pytest.mark.parametrize(
    ("app", "model"),
    [
        ("tasks", "repository"),
        ("tasks", "robot"),
        ("tasks", "feature"),
        ("tasks", "taskgroup"),
        ("tasks", "task"),
        ("runs", "taskrun"),
        ("runs", "tasklog"),
    ],
)
def test_every_model_has_a_changelist_and_change_page(staff_client, rows, app, model):
    assert staff_client.get(reverse(f"admin:{app}_{model}_changelist")).status_code == 200
    assert staff_client.get(reverse(f"admin:{app}_{model}_add")).status_code == 200


def test_task_changelist_filters_and_searches_by_title_and_id(staff_client, rows):
    url = reverse("admin:tasks_task_changelist")
    assert b"Findme" in staff_client.get(url, {"q": "findme"}).content
    assert b"Findme" in staff_client.get(url, {"q": str(rows.id)}).content
    assert staff_client.get(url, {"q": "not-a-uuid"}).status_code == 200
    for params in (
        {"workflow_status__exact": "COMPLETED"},
        {"priority__exact": "MEDIUM"},
        {"archived__exact": "0"},
    ):
        assert b"Findme" in staff_client.get(url, params).content
    assert staff_client.get(reverse("admin:tasks_task_change", args=[rows.id])).status_code == 200


def test_admin_actions_archive_unarchive_and_restore_deleted(staff_client, rows):
    url = reverse("admin:tasks_task_changelist")
    staff_client.post(url, {"action": "archive", "_selected_action": [rows.pk]})
    rows.refresh_from_db()
    assert rows.archived and rows.archived_at
    staff_client.post(url, {"action": "unarchive", "_selected_action": [rows.pk]})
    rows.refresh_from_db()
    assert not rows.archived and rows.archived_at is None
    Task.objects.filter(pk=rows.pk).update(deleted=True)
    assert b"Findme" in staff_client.get(url, {"deleted__exact": "1"}).content
    staff_client.post(url, {"action": "restore_deleted", "_selected_action": [rows.pk]})
    rows.refresh_from_db()
    assert not rows.deleted and rows.deleted_at is None


def test_admin_is_for_staff_only(client, people, rows):
    client.force_login(people["admin"])
    response = client.get(reverse("admin:tasks_task_changelist"))
    assert response.status_code == 302


def test_admin_retry_and_halt_use_the_execution_rules(staff_client, rows):
    url = reverse("admin:tasks_task_changelist")
    # A PENDING run exists: retry is refused (as the API's 409), halt stops it.
    Task.objects.filter(pk=rows.pk).update(workflow_status="PENDING")
    response = staff_client.post(
        url, {"action": "retry", "_selected_action": [rows.pk]}, follow=True
    )
    assert b"queued or running" in response.content
    assert TaskRun.objects.filter(task=rows).count() == 1
    staff_client.post(url, {"action": "halt", "_selected_action": [rows.pk]})
    rows.refresh_from_db()
    assert rows.workflow_status == "HALTED"
    staff_client.post(url, {"action": "retry", "_selected_action": [rows.pk]})
    rows.refresh_from_db()
    assert rows.retries == 1
    assert list(TaskRun.objects.filter(task=rows).values_list("number", flat=True)) == [1, 2]


def test_runner_profile_secrets_are_write_only_in_the_admin(staff_client, workspace):
    from tasks import vault
    from tasks.models import RunnerProfile
    from tests.factories import RunnerProfileFactory

    profile = RunnerProfileFactory(name="codex", secrets={"OPENAI_API_KEY": "sk-adminsecret123456"})
    url = reverse("admin:tasks_runnerprofile_change", args=[profile.pk])
    page = staff_client.get(url).content.decode()
    assert "OPENAI_API_KEY" in page and "sk-adminsecret" not in page
    form = {
        "name": "codex",
        "runner": "command",
        "argv": '["cat"]',
        "allowed_base_urls": "[]",
        "variables": '{"MODEL": "o3"}',
        "timeout_seconds": 60,
        "cpu_seconds": 60,
        "memory_mb": 256,
        "max_processes": 16,
        "max_open_files": 64,
        "max_output_bytes": 10000,
        "all_workspaces": "on",
        "new_secrets": "",
    }
    assert staff_client.post(url, form).status_code == 302
    profile.refresh_from_db()  # left empty: the stored secrets stay
    assert vault.unseal(profile.secrets_sealed) == {"OPENAI_API_KEY": "sk-adminsecret123456"}
    assert staff_client.post(url, {**form, "new_secrets": "TOKEN=abc123456"}).status_code == 302
    profile.refresh_from_db()
    assert vault.unseal(profile.secrets_sealed) == {"TOKEN": "abc123456"}
    assert RunnerProfile.objects.get(pk=profile.pk).variables == {"MODEL": "o3"}


def test_a_robots_config_is_masked_in_the_admin_and_kept_on_save(staff_client, workspace):
    token = "ghp_abcdefghijklmnopqrstuvwxyz0123"
    robot = RobotFactory(
        workspace=workspace, runner="command", config={"argv": ["x"], "env": {"T": token}}
    )
    url = reverse("admin:tasks_robot_change", args=[robot.pk])
    page = staff_client.get(url).content.decode()
    assert token not in page and "****" in page
    form = {
        "workspace": str(workspace.pk),
        "name": "renamed",
        "runner": "command",
        "config": '{"argv": ["y"], "env": {"T": "****"}}',
        "enabled": "on",
    }
    assert staff_client.post(url, form).status_code == 302
    robot.refresh_from_db()
    assert robot.name == "renamed" and robot.config == {"argv": ["y"], "env": {"T": token}}
