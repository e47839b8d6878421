import pytest

from accounts.models import Membership, Role, Workspace
from tests.factories import UserFactory, WorkspaceFactory
from tests.personas import MANAGE, PERSONAS, READ, assert_error, expect


def colleagues(*users):
    """Puts the users in one more workspace together: members are added from the people
    one already shares a workspace with."""
    team = WorkspaceFactory(owner=users[0])
    for user in users[1:]:
        Membership.objects.get_or_create(workspace=team, user=user, defaults={"role": "VIEWER"})
    return team


@pytest.mark.parametrize("persona", PERSONAS)
def test_list_members(api, persona, workspace):
    body = expect(api(persona).get("/api/workspaces/acme/members"), READ[persona])
    if READ[persona] == 200:
        roles = {m["user"]["username"]: m["role"] for m in body["data"]}
        assert roles["owner"] == "OWNER"
        assert roles["viewer"] == "VIEWER"
        assert "outsider" not in roles
        assert body["pagination"]["totalCount"] == 6


@pytest.mark.parametrize("persona", PERSONAS)
def test_add_member_needs_admin(api, people, persona, workspace):
    newcomer = UserFactory(username="newcomer")
    colleagues(newcomer, *people.values())
    response = api(persona).post(
        "/api/workspaces/acme/members",
        {"username": "newcomer", "role": "DEVELOPER"},
        format="json",
    )
    status = 201 if MANAGE[persona] == 200 else MANAGE[persona]
    body = expect(response, status)
    added = Membership.objects.filter(workspace=workspace, user=newcomer).exists()
    assert added == (status == 201)
    if status == 201:
        assert body["data"]["user"]["username"] == "newcomer"


def test_add_member_by_email_or_id(api, people, workspace):
    by_email = UserFactory(username="e", email="e@example.org")
    by_id = UserFactory(username="i")
    colleagues(people["admin"], by_email, by_id)
    client = api("admin")
    expect(
        client.post(
            "/api/workspaces/acme/members",
            {"email": "E@example.org", "role": "VIEWER"},
            format="json",
        ),
        201,
    )
    expect(
        client.post(
            "/api/workspaces/acme/members", {"userId": str(by_id.pk), "role": "PM"}, format="json"
        ),
        201,
    )
    assert Membership.objects.get(workspace=workspace, user=by_email).role == Role.VIEWER
    assert Membership.objects.get(workspace=workspace, user=by_id).role == Role.PM


def test_an_unknown_account_and_a_stranger_get_the_same_answer(api, people):
    """Adding a member tells nothing about accounts beyond the inviter's workspaces."""
    UserFactory(username="stranger", email="stranger@example.org")
    answers = []
    for field, value in [
        ("username", "ghost"),
        ("username", "stranger"),
        ("email", "ghost@example.org"),
        ("email", "stranger@example.org"),
    ]:
        response = api("admin").post(
            "/api/workspaces/acme/members", {field: value, "role": "VIEWER"}, format="json"
        )
        body = assert_error(response, 400, "VALIDATION_ERROR")
        answers.append((field, body["error"], body["details"]))
    assert answers[0][1:] == answers[1][1:] and answers[2][1:] == answers[3][1:]
    assert not Membership.objects.filter(user__username="stranger").exists()
    assert Workspace.objects.filter(memberships__user__username="stranger").count() == 0


def test_add_member_errors(api, people):
    client = api("admin")
    body = assert_error(
        client.post(
            "/api/workspaces/acme/members", {"username": "ghost", "role": "VIEWER"}, format="json"
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert "username" in body["details"]
    colleagues(people["outsider"], people["admin"])
    body = assert_error(
        client.post(
            "/api/workspaces/acme/members", {"username": "outsider", "role": "KING"}, format="json"
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert "OWNER" in body["details"]["role"][0] or "valid choice" in body["details"]["role"][0]
    assert_error(
        client.post(
            "/api/workspaces/acme/members", {"username": "viewer", "role": "VIEWER"}, format="json"
        ),
        409,
        "ALREADY_MEMBER",
    )


def test_only_an_owner_grants_owner(api, people):
    colleagues(people["outsider"], people["owner"], people["admin"])
    assert_error(
        api("admin").post(
            "/api/workspaces/acme/members", {"username": "outsider", "role": "OWNER"}, format="json"
        ),
        403,
        "FORBIDDEN",
    )
    expect(
        api("owner").post(
            "/api/workspaces/acme/members", {"username": "outsider", "role": "OWNER"}, format="json"
        ),
        201,
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_change_role_needs_admin(api, persona, people):
    response = api(persona).patch(
        f"/api/workspaces/acme/members/{people['viewer'].pk}",
        {"role": "DEVELOPER"},
        format="json",
    )
    expect(response, MANAGE[persona])
    role = Membership.objects.get(workspace=people.workspace, user=people["viewer"]).role
    assert role == (Role.DEVELOPER if MANAGE[persona] == 200 else Role.VIEWER)


@pytest.mark.parametrize("persona", PERSONAS)
def test_remove_member_needs_admin(api, persona, people):
    response = api(persona).delete(f"/api/workspaces/acme/members/{people['pm'].pk}")
    status = 204 if MANAGE[persona] == 200 else MANAGE[persona]
    expect(response, status)
    still = Membership.objects.filter(workspace=people.workspace, user=people["pm"]).exists()
    assert still == (status != 204)


def test_a_member_may_leave(api, people):
    expect(api("viewer").delete(f"/api/workspaces/acme/members/{people['viewer'].pk}"), 204)
    assert_error(api("viewer").get("/api/workspaces/acme"), 404, "NOT_FOUND")


def test_last_owner_cannot_be_removed_or_demoted(api, people):
    owner = people["owner"]
    assert_error(api("owner").delete(f"/api/workspaces/acme/members/{owner.pk}"), 409, "LAST_OWNER")
    assert_error(
        api("owner").patch(
            f"/api/workspaces/acme/members/{owner.pk}", {"role": "ADMIN"}, format="json"
        ),
        409,
        "LAST_OWNER",
    )
    assert_error(api("admin").delete(f"/api/workspaces/acme/members/{owner.pk}"), 403, "FORBIDDEN")
    expect(
        api("owner").patch(
            f"/api/workspaces/acme/members/{people['admin'].pk}", {"role": "OWNER"}, format="json"
        ),
        200,
    )
    expect(api("owner").delete(f"/api/workspaces/acme/members/{owner.pk}"), 204)


def test_unknown_or_malformed_member_ids(api, people):
    assert_error(
        api("owner").delete(f"/api/workspaces/acme/members/{people['outsider'].pk}"),
        404,
        "NOT_FOUND",
    )
    assert_error(api("owner").delete("/api/workspaces/acme/members/not-a-uuid"), 404, "NOT_FOUND")
