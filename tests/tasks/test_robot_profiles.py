"""Robots and runner profiles through the API: raw runner fields are the operator's,
a robot's config is shown to ADMIN+ only and without its secrets."""

import pytest

from tasks.models import Robot
from tests.factories import RobotFactory, RunnerProfileFactory
from tests.personas import PERSONAS, assert_error, expect

RAW_FIELDS = {
    "argv": ["sh", "-c", "id"],
    "env": {"GITHUB_TOKEN": "ghp_abcdefghijklmnopqrstuvwxyz0123"},
    "env_allow": ["DATABASE_URL"],
    "base_url": "http://127.0.0.1:5432/v1",
    "api_key_env": "DATABASE_URL",
}


def create(client, workspace, runner, config):
    return client.post(
        "/api/robots",
        {"workspaceId": str(workspace.id), "name": "r", "runner": runner, "config": config},
        format="json",
    )


@pytest.mark.parametrize("field", sorted(RAW_FIELDS))
@pytest.mark.parametrize("runner", ["command", "openai", "scripted"])
def test_a_non_staff_owner_gets_403_for_each_raw_field_and_nothing_is_stored(
    api, workspace, field, runner
):
    robot = RobotFactory(workspace=workspace)
    before = Robot.objects.count()
    body = assert_error(
        create(api("owner"), workspace, runner, {field: RAW_FIELDS[field]}),
        403,
        "RAW_RUNNER_CONFIG",
    )
    assert field in body["error"]
    assert Robot.objects.count() == before
    assert_error(
        api("owner").patch(
            f"/api/robots/{robot.id}",
            {"runner": runner, "config": {field: RAW_FIELDS[field]}},
            format="json",
        ),
        403,
        "RAW_RUNNER_CONFIG",
    )
    robot.refresh_from_db()
    assert robot.config == {} and robot.runner == "scripted"


def test_staff_may_store_a_raw_config(api, people, workspace):
    people["owner"].is_staff = True
    people["owner"].save()
    response = create(api("owner"), workspace, "command", {"argv": ["cat"]})
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("persona", PERSONAS)
def test_robots_naming_a_profile_per_persona(api, workspace, persona):
    profile = RunnerProfileFactory(name="codex", variables={"MODEL": "small"})
    status = {"owner": 201, "admin": 201}.get(persona) or {
        "developer": 403,
        "viewer": 403,
        "outsider": 404,
        "anonymous": 401,
    }[persona]
    response = create(api(persona), workspace, "command", {"profile": "codex", "MODEL": "big"})
    expect(response, status)
    if status == 201:
        robot = Robot.objects.get(pk=response.json()["data"]["id"])
        assert robot.config == {"profile": profile.name, "MODEL": "big"}


def test_a_profile_must_exist_allow_the_workspace_and_declare_the_overrides(api, workspace):
    RunnerProfileFactory(name="closed", all_workspaces=False)
    RunnerProfileFactory(name="open", variables={"MODEL": "x"})
    RunnerProfileFactory(name="chat", runner="openai", argv=[], base_url="https://m.test/v1")
    for runner, config in [
        ("command", {"profile": "missing"}),
        ("command", {"profile": "closed"}),
        ("command", {"profile": "open", "OTHER": "y"}),
        ("command", {"profile": "open", "MODEL": {"nested": 1}}),
        ("command", {"profile": "chat"}),  # an openai profile for a command robot
        ("command", {}),
        ("openai", {}),
    ]:
        body = assert_error(
            create(api("owner"), workspace, runner, config), 400, "VALIDATION_ERROR"
        )
        assert "config" in body["details"]
    assert not Robot.objects.exists()


def test_a_profile_open_to_named_workspaces_only(api, workspace, people):
    profile = RunnerProfileFactory(name="team", all_workspaces=False)
    profile.workspaces.add(workspace)
    assert create(api("owner"), workspace, "command", {"profile": "team"}).status_code == 201
    outsider_ws = people.elsewhere
    response = api("outsider").post(
        "/api/robots",
        {
            "workspaceId": str(outsider_ws.id),
            "name": "r",
            "runner": "command",
            "config": {"profile": "team"},
        },
        format="json",
    )
    assert_error(response, 400, "VALIDATION_ERROR")


CONFIG_SHOWN = {"owner": True, "admin": True, "developer": False, "viewer": False}


@pytest.mark.parametrize("persona", PERSONAS)
def test_a_robots_config_only_to_admins_and_without_secrets(api, workspace, persona):
    token = "ghp_abcdefghijklmnopqrstuvwxyz0123"
    robot = RobotFactory(
        workspace=workspace,
        runner="command",
        config={"argv": ["tool", f"--token={token}"], "env": {"GITHUB_TOKEN": token}},
    )
    response = api(persona).get(f"/api/robots/{robot.id}")
    listed = api(persona).get("/api/robots", {"workspaceId": str(workspace.id)})
    if persona not in CONFIG_SHOWN:
        expect(response, {"outsider": 404, "anonymous": 401}[persona])
        return
    for data in (response.json()["data"], listed.json()["data"][0]):
        assert token not in str(data)
        if CONFIG_SHOWN[persona]:
            assert data["config"]["env"] == {"GITHUB_TOKEN": "****"}
            assert data["config"]["argv"][0] == "tool"
        else:
            assert data["config"] is None


def test_the_robot_list_reads_roles_once(api, workspace, django_assert_num_queries):
    for n in range(5):
        RobotFactory(workspace=workspace, name=f"r{n}", config={"env": {"A": "secret"}})
    client = api("admin")
    client.get("/api/robots", {"workspaceId": str(workspace.id)})  # warms the token cache
    # token, roles, the page of robots (not full: it holds every row, no COUNT)
    with django_assert_num_queries(3):
        rows = client.get("/api/robots", {"workspaceId": str(workspace.id)}).json()["data"]
    assert len(rows) == 5 and all(r["config"] == {"env": {"A": "****"}} for r in rows)


def test_workspace_creation_for_staff_only(api, people, settings):
    settings.WORKSPACE_CREATION = "staff"
    body = {"slug": "mine", "name": "Mine"}
    assert_error(api("outsider").post("/api/workspaces", body, format="json"), 403, "FORBIDDEN")
    people["outsider"].is_staff = True
    people["outsider"].save()
    assert api("outsider").post("/api/workspaces", body, format="json").status_code == 201
    settings.WORKSPACE_CREATION = "any"
    body = {"slug": "yours", "name": "Yours"}
    assert api("viewer").post("/api/workspaces", body, format="json").status_code == 201


def test_profiles_from_the_operators_file(people, workspace, tmp_path, settings):
    from django.core.management import call_command

    from tasks import vault
    from tasks.models import RunnerProfile

    path = tmp_path / "profiles.json"
    path.write_text(
        """[{"name": "codex", "runner": "command", "argv": ["codex", "{MODEL}"],
             "variables": {"MODEL": "o3"}, "secrets": {"OPENAI_API_KEY": "sk-fromfile1234567890"},
             "workspaces": ["acme"], "cpu_seconds": 60},
            {"name": "chat", "runner": "openai", "base_url": "https://models.test/v1",
             "workspaces": "*"}]"""
    )
    settings.RUNNER_PROFILES_FILE = str(path)
    call_command("load_runner_profiles")
    codex = RunnerProfile.objects.get(name="codex")
    assert codex.cpu_seconds == 60 and codex.allows(workspace.id)
    assert not codex.allows(people.elsewhere.id)
    assert "sk-fromfile" not in codex.secrets_sealed  # sealed, not stored in the clear
    assert vault.unseal(codex.secrets_sealed) == {"OPENAI_API_KEY": "sk-fromfile1234567890"}
    assert RunnerProfile.objects.get(name="chat").allows(people.elsewhere.id)
