"""config.memory: the server's process freezes what it loaded, so that the collector's
full collections skip it (the bench measured 191 ms pauses without)."""

import json
import os
import subprocess
import sys

from django.conf import settings

PROBE = (
    "import gc, json, sys; import config.asgi; print(json.dumps("
    "[gc.get_freeze_count(), len(gc.get_objects()), 'tasks.views' in sys.modules]))"
)


def test_loading_the_server_freezes_what_it_loaded_urlconf_included():
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    frozen, tracked, views_loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert views_loaded  # the URLconf, and with it the views, loaded before the freeze
    # What a full collection still walks is a small part of what the process holds.
    assert frozen > 5 * tracked, (frozen, tracked)
