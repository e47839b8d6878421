import pytest

from accounts.models import ApiToken, Membership, Role
from tests.factories import WorkspaceFactory
from tests.personas import PERSONAS, assert_error, expect


@pytest.mark.parametrize("persona", PERSONAS)
def test_me_per_persona(api, persona, workspace):
    response = api(persona).get("/api/auth/me")
    if persona == "anonymous":
        assert_error(response, 401, "UNAUTHENTICATED")
        return
    data = expect(response, 200)["data"]
    assert data["user"]["username"] == persona
    assert set(data["user"]) == {"id", "username", "name", "email", "image"}
    slugs = {w["slug"]: w["role"] for w in data["workspaces"]}
    if persona == "outsider":
        assert slugs == {"elsewhere": "OWNER"}
    else:
        assert slugs == {"acme": persona.upper()}
    assert data["features"] == {"taskLogsEnabled": True}
    assert set(data["realtime"]) == {
        "key",
        "wsHost",
        "wsPort",
        "forceTLS",
        "authEndpoint",
        "cluster",
    }
    assert data["realtime"]["authEndpoint"].endswith("/api/realtime/auth")


@pytest.mark.parametrize("persona", ["revoked", "expired"])
def test_revoked_and_expired_tokens_are_refused(api, persona):
    assert_error(api(persona).get("/api/auth/me"), 401, "UNAUTHENTICATED")


def test_unknown_and_malformed_tokens_are_refused(client, db):
    for header in ("Bearer td_nope", "Bearer", "Bearer a b", "Bearer not-ours"):
        response = client.get("/api/auth/me", HTTP_AUTHORIZATION=header)
        assert_error(response, 401, "UNAUTHENTICATED")


def test_session_login_works_for_the_console(client, people):
    client.force_login(people["viewer"])
    assert expect(client.get("/api/auth/me"), 200)["data"]["user"]["username"] == "viewer"


def test_token_secret_is_shown_once_and_only_its_hash_is_stored(api, people):
    client = api("developer")
    created = expect(client.post("/api/auth/tokens", {"name": "laptop"}, format="json"), 201)
    secret = created["data"]["token"]
    assert secret.startswith("td_")
    assert created["data"]["prefix"] == secret[:10]
    stored = ApiToken.objects.get(pk=created["data"]["id"])
    assert secret not in {stored.token_hash, stored.prefix, stored.name}

    listed = expect(client.get("/api/auth/tokens"), 200)["data"]
    assert "laptop" in [t["name"] for t in listed]
    assert all("token" not in t and "tokenHash" not in t for t in listed)

    fresh = api("anonymous")
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert expect(fresh.get("/api/auth/me"), 200)["data"]["user"]["username"] == "developer"


def test_token_with_expiry_days(api):
    created = expect(
        api("viewer").post("/api/auth/tokens", {"name": "ci", "expiresDays": 7}, format="json"),
        201,
    )
    assert created["data"]["expiresAt"].endswith("Z")


def test_token_creation_validates(api):
    body = assert_error(
        api("viewer").post("/api/auth/tokens", {"expiresDays": 0}, format="json"),
        400,
        "VALIDATION_ERROR",
    )
    assert set(body["details"]) == {"name", "expiresDays"}


def test_revoking_a_token_makes_it_fail(api, people):
    client = api("developer")
    created = expect(client.post("/api/auth/tokens", {"name": "tmp"}, format="json"), 201)
    other = api("anonymous")
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {created['data']['token']}")
    assert expect(client.delete(f"/api/auth/tokens/{created['data']['id']}"), 204) is None
    assert_error(other.get("/api/auth/me"), 401, "UNAUTHENTICATED")


def test_cannot_revoke_someone_elses_token(api, people):
    token, _ = ApiToken.issue(people["owner"], "owner's")
    assert_error(api("admin").delete(f"/api/auth/tokens/{token.pk}"), 404, "NOT_FOUND")
    token.refresh_from_db()
    assert token.revoked_at is None


def test_anonymous_cannot_list_tokens(api, db):
    assert_error(api("anonymous").get("/api/auth/tokens"), 401, "UNAUTHENTICATED")
    assert_error(api("anonymous").post("/api/auth/tokens", {"name": "x"}), 401, "UNAUTHENTICATED")


def test_last_used_is_stamped(api, people):
    client = api("viewer")
    expect(client.get("/api/auth/me"), 200)
    assert ApiToken.objects.get(user=people["viewer"]).last_used_at is not None


def test_me_takes_two_queries_for_one_workspace_or_fifty(api, people, django_assert_num_queries):
    client = api("viewer")
    client.get("/api/auth/me")  # the token's last-used stamp is written once a minute
    with django_assert_num_queries(2):  # the token with its user, the workspaces
        one = expect(client.get("/api/auth/me"), 200)["data"]["workspaces"]
    for n in range(49):
        extra = WorkspaceFactory(slug=f"more{n:02}")
        Membership.objects.create(workspace=extra, user=people["viewer"], role=Role.VIEWER)
    with django_assert_num_queries(2):
        fifty = expect(client.get("/api/auth/me"), 200)["data"]["workspaces"]
    assert len(one) == 1 and len(fifty) == 50
    assert [w["slug"] for w in fifty] == sorted(w["slug"] for w in fifty)
