"""`manage.py check --deploy`: the realtime secret must be one nobody else knows."""

from typing import Any

from django.conf import settings
from django.core import checks

# The constant the embedded mode once used: public, in the repository's history.
KNOWN_SECRETS = {"taskdesk-embedded-secret"}


@checks.register(checks.Tags.security, deploy=True)
def pusher_secret_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    secret = settings.PUSHER_SECRET
    if secret in KNOWN_SECRETS or len(secret.encode()) < settings.PUSHER_SECRET_MIN_BYTES:
        return [
            checks.Error(
                f"PUSHER_SECRET is shorter than {settings.PUSHER_SECRET_MIN_BYTES} bytes or a "
                "published constant: anyone could sign channel auth and publish events.",
                hint="Unset it (the installation then generates var/pusher-secret) or set "
                "a long random value, e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`.",
                id="realtime.E001",
            )
        ]
    return []
