"""Masks secrets (tokens, keys, passwords) in text a task produced before it is served."""

import re

MASK = "****"

# Each pattern keeps a recognisable prefix (group 1) and masks the secret after it.
_PATTERNS: list[re.Pattern[str]] = [
    # Provider tokens with a fixed prefix: GitHub, GitLab, OpenAI/Anthropic, Slack, AWS, Stripe.
    re.compile(r"\b(gh[pousr]_)[A-Za-z0-9]{16,}"),
    re.compile(r"\b(github_pat_)[A-Za-z0-9_]{20,}"),
    re.compile(r"\b(glpat-)[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\b(sk-(?:ant-|proj-)?)[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\b(xox[abprs]-)[A-Za-z0-9\-]{10,}"),
    re.compile(r"\b(AKIA)[0-9A-Z]{16}\b"),
    re.compile(r"\b((?:sk|rk|pk)_(?:live|test)_)[A-Za-z0-9]{16,}"),
    # `Authorization: Bearer <x>` and `Basic <x>`.
    re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=\-]{12,}"),
    # key=value / key: value for names that say secret.
    re.compile(
        r"(?i)\b((?:[a-z0-9_\-]*(?:api[_\-]?key|secret|token|password|passwd|pwd|"
        r"access[_\-]?key|private[_\-]?key|auth))[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]{4,}"
    ),
    # Credentials inside URLs: scheme://user:password@host.
    re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^/\s@]+(?=@)"),
    # PEM private key blocks.
    re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?(?=-----END [A-Z ]*PRIVATE KEY-----)"),
]


def mask_secrets(text: str | None) -> str | None:
    """`text` with every recognised secret replaced by `****` (its prefix kept)."""
    if not text:
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    return text
