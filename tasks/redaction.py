"""The one redaction of the project: what a task produced (output, errors, log lines,
a robot's answers) has its secrets masked before it is stored or served.

Recognised shapes keep a short prefix so a reader can tell what was there
(`ghp_****`, `Bearer ****`, `password=****`); literal secrets a robot's config names
are masked wherever they appear.
"""

import re
from collections.abc import Iterable
from typing import Any, overload

MASK = "****"

# Each pattern keeps a recognisable prefix (group 1) and masks the secret after it.
_PATTERNS: list[re.Pattern[str]] = [
    # Provider tokens with a fixed prefix: GitHub, GitLab, OpenAI/Anthropic, Slack, AWS,
    # Google, Stripe, and Taskdesk's own API tokens.
    re.compile(r"\b(gh[pousr]_)[A-Za-z0-9]{16,}"),
    re.compile(r"\b(github_pat_)[A-Za-z0-9_]{20,}"),
    re.compile(r"\b(glpat-)[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\b(sk-(?:ant-|proj-)?)[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\b(td_)[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\b(xox[abprs]-)[A-Za-z0-9\-]{10,}"),
    re.compile(r"\b(AKIA)[0-9A-Z]{16}\b"),
    re.compile(r"\b(AIza)[0-9A-Za-z_\-]{35}\b"),
    re.compile(r"\b((?:sk|rk|pk)_(?:live|test)_)[A-Za-z0-9]{16,}"),
    # `Authorization: Bearer <x>` and `Basic <x>`.
    re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=:\-]{8,}"),
    # key=value / key: value for names that say secret.
    re.compile(
        r"(?i)\b((?:[a-z0-9_\-]*(?:api[_\-]?key|secret|token|password|passwd|pwd|"
        r"access[_\-]?key|private[_\-]?key|auth))[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]{4,}"
    ),
    # Credentials inside URLs: scheme://user:password@host.
    re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^/\s@]+(?=@)"),
    # PEM private key blocks (also one cut off before its END line).
    re.compile(
        r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?(?=-----END [A-Z ]*PRIVATE KEY-----|$)"
    ),
]


@overload
def redact(text: str, secrets: Iterable[str] = ()) -> str: ...
@overload
def redact(text: None, secrets: Iterable[str] = ()) -> None: ...
def redact(text: str | None, secrets: Iterable[str] = ()) -> str | None:
    """`text` with the given literal secrets and every recognised secret masked, and any
    NUL (a runner's output may hold one; PostgreSQL cannot store it) replaced by U+FFFD."""
    if not text:
        return text
    text = text.replace("\x00", "\ufffd")
    for secret in sorted((s for s in secrets if isinstance(s, str) and len(s) >= 4), key=len)[::-1]:
        text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    return text


def robot_secrets(config: dict[str, Any]) -> list[str]:
    """The literal secrets a robot's config names (`config.secrets`, plus its `api_key`)."""
    found = [s for s in config.get("secrets", []) if isinstance(s, str)]
    if isinstance(config.get("api_key"), str):
        found.append(config["api_key"])
    return found
