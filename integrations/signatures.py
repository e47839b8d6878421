"""Who sent an inbound delivery: GitHub's HMAC signature, GitLab's shared token. Both
compared in constant time; a repository without a secret accepts nothing."""

import hashlib
import hmac


def github_signature_ok(secret: str, body: bytes, header: str) -> bool:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`."""
    if not secret or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def gitlab_token_ok(secret: str, token: str) -> bool:
    """`X-Gitlab-Token`: the secret itself."""
    if not secret or not token:
        return False
    return hmac.compare_digest(secret.encode(), token.encode())
