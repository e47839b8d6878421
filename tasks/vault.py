"""The runner profiles' secrets, sealed with Fernet (the `cryptography` package:
authenticated AES, a well-kept implementation) under RUNNER_SECRETS_KEY.

Write-only: the admin and the loader seal `{NAME: value}`; only the worker unseals, to
hand the values to a run. The API never returns them, and every text a run produces
is redacted with them (tasks.redaction).
"""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

from tasks.models import RunnerProfile


def _fernet() -> Fernet:
    # Any string configures the key: its SHA-256 is the 32 bytes Fernet wants.
    digest = hashlib.sha256(settings.RUNNER_SECRETS_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(secrets: dict[str, str]) -> str:
    return _fernet().encrypt(json.dumps(secrets).encode()).decode() if secrets else ""


def unseal(sealed: str) -> dict[str, str]:
    if not sealed:
        return {}
    try:
        return {str(k): str(v) for k, v in json.loads(_fernet().decrypt(sealed)).items()}
    except InvalidToken:
        raise ValueError("The profile's secrets do not open with RUNNER_SECRETS_KEY.") from None


def set_secrets(profile: RunnerProfile, secrets: dict[str, str]) -> None:
    profile.secrets_sealed = seal(secrets)


def secret_names(profile: RunnerProfile) -> list[str]:
    """The names only, for the admin (the values stay sealed)."""
    try:
        return sorted(unseal(profile.secrets_sealed))
    except ValueError:
        return []
