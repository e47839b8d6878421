"""Schemathesis over the whole API: every operation of the schema the server publishes,
against a real daphne on a seeded database (the demo workspace: tasks, messages, runs,
repositories, robots), as its owner. Its default checks (no 5xx, only documented statuses
and content types, responses that match their schema, schema-valid input accepted and
invalid input refused, ...), a bounded number of examples and a fixed seed, so that a
failure replays. What the schema cannot state is in schemathesis.toml, with why."""

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.realtime import live

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = "20261130"
MAX_EXAMPLES = "15"
# Throttles would answer 429 to a fuzzer long before it is done (tested on their own in
# test_throttling.py).
UNTHROTTLED = {
    name: "1000000/min"
    for name in (
        "THROTTLE_ANON",
        "THROTTLE_USER",
        "THROTTLE_TOKENS",
        "THROTTLE_CHAT",
        "THROTTLE_RUNS",
        "THROTTLE_AUTH_FAILURES",
    )
}


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("fuzz")
    url = live.create_database(tmp_path, "fuzz")
    printed = live.manage(url, "seed_demo")
    token = re.search(r"API token: (\S+)", printed)
    assert token, printed
    server = live.start_server(url, tmp_path / "daphne.log", **UNTHROTTLED)
    yield server, token.group(1)
    server.stop()


def test_a_malformed_multipart_body_is_answered_by_the_api(seeded_server):
    """Not by daphne's HTTP layer (twisted parsed form bodies itself and answered a bare,
    empty 400): config.server turns that off, so the envelope answers."""
    server, token = seeded_server
    request = urllib.request.Request(
        f"{server.url}/api/uploads",
        data=b"--b--\r\n",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "multipart/form-data; boundary=b",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=30)
    assert answer.value.code == 400
    assert answer.value.headers["Content-Type"] == "application/json"
    assert json.loads(answer.value.read())["code"] == "VALIDATION_ERROR"


def test_schemathesis_finds_no_failure(seeded_server):
    server, token = seeded_server
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{server.url}/api/schema",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        SEED,
        "--no-color",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    output = result.stdout + result.stderr
    summary = output[output.rfind("SUMMARY") :] if "SUMMARY" in output else output[-3000:]
    assert result.returncode == 0, output[-20000:]
    # Every operation was tested (none skipped for want of a schema), with no failure.
    operations = re.search(r"Tested: (\d+)", summary)
    selected = re.search(r"Selected: (\d+)/(\d+)", summary)
    assert operations and selected, summary
    assert operations.group(1) == selected.group(1) == selected.group(2), summary
    assert "failures" not in summary.splitlines()[-1], summary
