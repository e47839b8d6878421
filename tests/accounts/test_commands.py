from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiToken


def test_issue_token_prints_only_a_working_token(people, api):
    out = StringIO()
    call_command("issue_token", "viewer", "--name", "ci", "--expires-days", "3", stdout=out)
    raw = out.getvalue().strip()
    assert "\n" not in raw and raw.startswith("td_")
    token = ApiToken.objects.authenticate(raw)
    assert token is not None and token.name == "ci" and token.expires_at is not None
    client = api("anonymous")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/auth/me").json()["data"]["user"]["username"] == "viewer"


def test_issue_token_for_unknown_user_fails(db):
    with pytest.raises(CommandError, match="No user named"):
        call_command("issue_token", "ghost")
