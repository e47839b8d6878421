import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from openapi_spec_validator import validate

ROOT = Path(settings.BASE_DIR)


def test_schema_is_valid_openapi_3(client, db):
    response = client.get("/api/schema?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    validate(schema)
    assert "/api/auth/me" in schema["paths"]


def test_the_committed_schema_is_the_served_one(client, db):
    """docs/openapi.yaml is the contract a client can read without a running server;
    `make schema` rewrites it from the code."""
    served = client.get("/api/schema?format=json").json()
    committed = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    assert committed == served, "docs/openapi.yaml is out of date: run `make schema`"


def test_schema_generation_has_no_warnings():
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            os.devnull,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_swagger_ui_loads_nothing_from_other_hosts(client, db):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    external = [
        u
        for u in re.findall(r"""(?:src|href)=["']([^"']+)""", html)
        if u.startswith(("http:", "https:", "//"))
    ]
    assert external == []
    static = re.findall(r"""src=["'](/static/[^"']+)""", html)
    assert static, html
    for url in static:
        assert client.get(url).status_code == 200, url


def _start_django(**env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DJANGO_DEBUG")}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_mode_refuses_to_start_without_secret_key():
    result = _start_django(DJANGO_DEBUG="false", PUSHER_SECRET="x")
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_production_mode_starts_with_its_secrets():
    result = _start_django(DJANGO_DEBUG="false", SECRET_KEY="s" * 50, PUSHER_SECRET="p" * 32)
    assert result.returncode == 0, result.stderr


def test_production_mode_refuses_a_short_pusher_secret():
    result = _start_django(DJANGO_DEBUG="false", SECRET_KEY="s" * 50, PUSHER_SECRET="p" * 31)
    assert result.returncode != 0
    assert "PUSHER_SECRET must be at least 32 bytes" in result.stderr


def _check_deploy(**env_overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHER_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", **env_overrides},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("secret", ["taskdesk-embedded-secret", "short"])
def test_check_deploy_reports_a_weak_pusher_secret(secret):
    result = _check_deploy(PUSHER_SECRET=secret)
    assert result.returncode != 0 and "realtime.E001" in result.stderr


def test_check_deploy_accepts_the_generated_pusher_secret():
    result = _check_deploy()
    assert "realtime.E001" not in result.stdout + result.stderr


def test_bad_boolean_setting_fails_loudly():
    result = _start_django(TASK_LOGS_ENABLED="perhaps")
    assert result.returncode != 0
    assert "TASK_LOGS_ENABLED must be true or false" in result.stderr


def test_a_bad_plan_cache_mode_fails_loudly():
    """Else every connection would fail, at the first request, with PostgreSQL's error."""
    result = _start_django(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/taskdesk",
        DATABASE_PLAN_CACHE_MODE="custom",
    )
    assert result.returncode != 0
    assert "DATABASE_PLAN_CACHE_MODE must be auto, force_custom_plan" in result.stderr
    assert _start_django(DATABASE_PLAN_CACHE_MODE="auto").returncode == 0


def test_every_operation_documents_its_errors_with_the_envelope(client, db):
    schema = client.get("/api/schema?format=json").json()
    assert schema["components"]["schemas"]["Error"]["required"] == ["success", "error", "code"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert {"401", "429"} <= set(responses), (method, path)
            if method in ("post", "patch"):
                assert {"400", "413"} <= set(responses), (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error"


def test_the_log_stream_documents_its_three_credentials(client, db):
    schema = client.get("/api/schema?format=json").json()
    stream = schema["paths"]["/api/tasks/{task_id}/logs/stream"]["get"]
    assert stream["security"] == [{"bearerAuth": []}, {"queryToken": []}, {"cookieAuth": []}]
