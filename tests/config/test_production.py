"""Production settings: `check --deploy` clean with the documented environment, a CSP on
every page, hosts enforced in debug mode too."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# The production environment .env.example documents (secrets aside).
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "PUSHER_SECRET": secrets.token_urlsafe(40),
    "SITE_URL": "https://taskdesk.example.com",
    "ALLOWED_HOSTS": "taskdesk.example.com",
    "SECURE_HSTS_PRELOAD": "true",
}


def manage(*args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_documented_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_names_what_a_plain_http_production_misses():
    plain = {**PRODUCTION, "SITE_URL": "http://taskdesk.example.com"}
    result = manage("check", "--deploy", **plain)
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stdout + result.stderr, check


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs", "/api/auth/me"])
def test_every_response_carries_the_content_security_policy(client, db, path):
    response = client.get(path)
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "object-src 'none'" in policy
    scripts = policy.split("script-src ")[1].split(";")[0].split()
    assert scripts[0] == "'self'" and "'unsafe-inline'" not in scripts
    # A page with an inline script carries the request's nonce for it.
    assert all(s.startswith("'nonce-") for s in scripts[1:])


def test_the_api_docs_have_no_inline_script(client, db):
    html = client.get("/api/docs").content.decode()
    assert "<script>" not in html
    script = client.get("/api/docs?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_an_unknown_host_is_refused_in_debug_mode_too(client, db, settings):
    assert settings.DEBUG is True or settings.DEBUG is False  # either mode: the same list
    assert "*" not in settings.ALLOWED_HOSTS
    response = client.get("/api/auth/me", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert client.get("/api/auth/me", HTTP_HOST="127.0.0.1").status_code == 401
