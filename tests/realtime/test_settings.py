"""Publisher settings: read once, from the environment, failing loudly."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from realtime import publishers

READ = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.PUSHER_APP_ID, s.PUSHER_KEY, s.PUSHER_SECRET, s.PUSHER_HOST, "
    "s.PUSHER_PORT, s.PUSHER_SSL, s.PUSHER_CLUSTER, s.REALTIME_PUBLISHER]))"
)


def settings_with(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHER_", "REALTIME_"))}
    return subprocess.run(
        [sys.executable, "-c", READ],
        cwd=settings.BASE_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_defaults_aim_the_pusher_publisher_at_the_built_in_server():
    result = settings_with(PORT="8123")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found[:2] + found[3:] == ["1", "taskdesk-key", "127.0.0.1", 8123, False, "", "pusher"]
    # No constant: the installation's own secret, generated once, kept under var/ (0600).
    generated = settings.VAR_DIR / "pusher-secret"
    assert found[2] == generated.read_text().strip() and len(found[2]) >= 32
    assert found[2] != "taskdesk-embedded-secret"
    assert generated.stat().st_mode & 0o777 == 0o600
    assert json.loads(settings_with(PORT="8123").stdout)[2] == found[2]  # the same next time


def test_pusher_url_with_an_explicit_port_is_parsed_in_settings():
    result = settings_with(PUSHER_URL="http://k3y:s%40cret@10.0.0.5:6001/apps/42")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[:7] == ["42", "k3y", "s@cret", "10.0.0.5", 6001, False, ""]


def test_pusher_url_of_pushers_service_means_its_cluster():
    result = settings_with(PUSHER_URL="https://k:s@api-eu.pusher.com/apps/7")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[:7] == ["7", "k", "s", "", 443, True, "eu"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"REALTIME_PUBLISHER": "carrier-pigeon"},
            "REALTIME_PUBLISHER must be pusher, layer, none or the dotted path",
        ),
        (
            {"REALTIME_PUBLISHER": "layer", "REDIS_URL": ""},
            "REALTIME_PUBLISHER=layer needs REDIS_URL",
        ),
        ({"PUSHER_APP_ID": "taskdesk"}, "PUSHER_APP_ID must be a number"),
    ],
)
def test_bad_realtime_settings_fail_loudly(env, message):
    result = settings_with(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_publisher_follows_the_setting(settings):
    settings.REALTIME_PUBLISHER = "none"
    assert isinstance(publishers.get_publisher(), publishers.NonePublisher)
    settings.REALTIME_PUBLISHER = "pusher"
    built_in = publishers.get_publisher()
    assert isinstance(built_in, publishers.PusherPublisher)
    assert (
        built_in.client._pusher_client.host,
        built_in.client._pusher_client.port,
        built_in.client._pusher_client.ssl,
    ) == (
        settings.PUSHER_HOST,
        settings.PUSHER_PORT,
        False,
    )
    settings.PUSHER_HOST, settings.PUSHER_CLUSTER, settings.PUSHER_SSL = "", "eu", True
    settings.PUSHER_PORT = 443
    hosted = publishers.get_publisher()
    assert (
        hosted.client._pusher_client.host,
        hosted.client._pusher_client.port,
        hosted.client._pusher_client.ssl,
    ) == (  # type: ignore[attr-defined]
        "api-eu.pusher.com",
        443,
        True,
    )


def test_the_pusher_publisher_sends_fresh_batches_of_ten():
    sent: list[list[dict]] = []

    class Client:
        def trigger_batch(self, batch, already_encoded=False):
            assert already_encoded  # data is JSON already, size-checked in UTF-8 bytes
            sent.append([dict(entry) for entry in batch])
            for entry in batch:  # the real client rewrites entries in place
                entry["data"] = "mutated"

    events = [publishers.Outgoing("c", "e", str(n), "1.2" if n == 0 else None) for n in range(12)]
    publisher = publishers.PusherPublisher(Client())  # type: ignore[arg-type]
    publisher.send(events)
    publisher.send(events)
    assert [len(batch) for batch in sent] == [10, 2, 10, 2]
    assert sent[0][0] == {"channel": "c", "name": "e", "data": "0", "socket_id": "1.2"}
    assert sent[0][1] == {"channel": "c", "name": "e", "data": "1"}
    assert sent[2] == sent[0]  # the second send is not affected by the first's mutation
