"""The test run's settings: the project's own, with the events that the outbox sends
recorded in this process (tests.recording) instead of pushed. Tests that need the real
publisher aim it at a server (tests/realtime/conftest.py: publish_to)."""

from config.settings import *  # noqa: F403

REALTIME_PUBLISHER = "tests.recording.RecordingPublisher"
