"""The test run's settings: the project's own, with the events that the outbox sends
recorded in this process (tests.recording) instead of pushed. Tests that need the real
publisher aim it at a server (tests/realtime/conftest.py: publish_to)."""

import atexit
import os
import shutil
import tempfile

# Metrics of this test run (and of the servers it starts, which inherit the variable)
# in a folder of their own, read by the tests of /metrics, removed at the end
# (TASKDESK_KEEP_TEST_METRICS=1 keeps it, to look at what the live servers counted).
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    _metrics_dir = tempfile.mkdtemp(prefix="taskdesk-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
    if not os.environ.get("TASKDESK_KEEP_TEST_METRICS"):
        atexit.register(shutil.rmtree, _metrics_dir, ignore_errors=True)

# Under pytest-xdist (`-n 2`) the worker processes inherit the folder of the process that
# started them: each counts in a folder of its own below it, or a test saw its counter
# move by the other worker's runs and deliveries too.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ...
if _xdist_worker.startswith("gw"):
    _metrics_dir = os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], _xdist_worker)
    os.makedirs(_metrics_dir, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir

# Under pytest-xdist (`-n 2`) each worker process gets a Redis database of its own: every
# test clears the cache (FLUSHDB), which wiped the other worker's throttle counts and
# channel groups in the middle of its tests. The servers a test starts inherit it.
if _xdist_worker.startswith("gw") and os.environ.get("REDIS_URL"):
    from urllib.parse import urlsplit, urlunsplit

    _redis = urlsplit(os.environ["REDIS_URL"])
    _db = int(_redis.path.strip("/") or 0) + 1 + int(_xdist_worker[2:])
    os.environ["REDIS_URL"] = urlunsplit(_redis._replace(path=f"/{_db}"))

from config.settings import *  # noqa: E402, F403

REALTIME_PUBLISHER = "tests.recording.RecordingPublisher"
# The API takes JSON bodies (uploads and channel auth name their own formats), as its
# clients send them: so does the test client, unless a test says otherwise.
REST_FRAMEWORK = {**REST_FRAMEWORK, "TEST_REQUEST_DEFAULT_FORMAT": "json"}  # noqa: F405
