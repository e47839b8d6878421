import pytest

from accounts.models import Membership, Role, Workspace
from tests.personas import MANAGE, PERSONAS, READ, assert_error, expect


@pytest.mark.parametrize("persona", PERSONAS)
def test_list_workspaces_shows_only_the_callers(api, persona, people):
    response = api(persona).get("/api/workspaces")
    if persona == "anonymous":
        assert_error(response, 401, "UNAUTHENTICATED")
        return
    slugs = [w["slug"] for w in expect(response, 200)["data"]]
    assert slugs == (["elsewhere"] if persona == "outsider" else ["acme"])


@pytest.mark.parametrize("persona", PERSONAS)
def test_get_workspace(api, persona, workspace):
    body = expect(api(persona).get("/api/workspaces/acme"), READ[persona])
    if READ[persona] == 200:
        data = body["data"]
        assert data["slug"] == "acme"
        assert data["id"] == str(workspace.id)
        assert data["role"] == persona.upper()
        assert data["features"]["taskLogsEnabled"] is True
        assert data["createdAt"].endswith("Z")


@pytest.mark.parametrize("persona", PERSONAS)
def test_patch_workspace_needs_admin(api, persona, workspace):
    body = {"name": "Acme Corp", "features": {"taskLogsEnabled": False}}
    expect(api(persona).patch("/api/workspaces/acme", body, format="json"), MANAGE[persona])
    workspace.refresh_from_db()
    if MANAGE[persona] == 200:
        assert workspace.name == "Acme Corp"
        assert workspace.features == {"taskLogsEnabled": False}
    else:
        assert workspace.name == "Acme"


def test_patch_workspace_validates(api, workspace):
    assert_error(
        api("owner").patch(
            "/api/workspaces/acme", {"features": {"taskLogsEnabled": "maybe"}}, format="json"
        ),
        400,
        "VALIDATION_ERROR",
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_create_workspace_makes_caller_owner(api, persona, people):
    response = api(persona).post(
        "/api/workspaces/", {"slug": "new-one", "name": "New"}, format="json"
    )
    if persona == "anonymous":
        assert_error(response, 401, "UNAUTHENTICATED")
        assert not Workspace.objects.filter(slug="new-one").exists()
        return
    data = expect(response, 201)["data"]
    assert data["role"] == "OWNER"
    membership = Membership.objects.get(workspace__slug="new-one")
    assert (membership.user.username, membership.role) == (persona, Role.OWNER)


def test_create_workspace_refuses_taken_or_bad_slug(api, workspace):
    client = api("developer")
    body = assert_error(
        client.post("/api/workspaces", {"slug": "acme", "name": "x"}, format="json"),
        400,
        "VALIDATION_ERROR",
    )
    assert "slug" in body["details"]
    body = assert_error(
        client.post("/api/workspaces", {"slug": "no spaces!", "name": ""}, format="json"),
        400,
        "VALIDATION_ERROR",
    )
    assert set(body["details"]) == {"slug", "name"}
    assert Workspace.objects.count() == 2


def test_unknown_workspace_is_a_json_404(api, workspace):
    assert_error(api("owner").get("/api/workspaces/nope"), 404, "NOT_FOUND")
    assert_error(api("owner").patch("/api/workspaces/nope", {}, format="json"), 404, "NOT_FOUND")
