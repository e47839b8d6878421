"""The test run's settings: the project's own, with the events that the outbox sends
recorded in this process (tests.recording) instead of pushed. Tests that need the real
publisher aim it at a server (tests/realtime/conftest.py: publish_to)."""

import os
import tempfile

# Metrics of this test run (and of the servers it starts, which inherit the variable)
# in a folder of their own, read by the tests of /metrics.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="taskdesk-metrics-"))

from config.settings import *  # noqa: F403

REALTIME_PUBLISHER = "tests.recording.RecordingPublisher"
