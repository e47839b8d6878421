"""tasks.secrets: what a task's output may leak is masked before it is served."""

import pytest

from tasks.secrets import mask_secrets


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("token ghp_0123456789abcdefghijABCDEFGHIJ", "0123456789abcdefghij"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnop"),
        ("glpat-abcdefghij0123456789", "abcdefghij0123456789"),
        ("OPENAI key sk-proj-abcdefghijklmnop0123456789", "abcdefghijklmnop0123"),
        ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrst"),
        ("slack xoxb-1234567890-abcdefghij", "1234567890-abcdefghij"),
        ("aws AKIAABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOP"),
        ("stripe sk_live_abcdefghijklmnop1234", "abcdefghijklmnop1234"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("API_KEY=supersecretvalue", "supersecretvalue"),
        ('{"password": "hunter2hunter2"}', "hunter2hunter2"),
        ("DB_PASSWORD: 'p4ssw0rd!'", "p4ssw0rd"),
        ("postgres://app:s3cr3tpw@db.internal:5432/app", "s3cr3tpw"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
            "MIIEowIBAAKCAQEA",
        ),
    ],
)
def test_secrets_are_masked(text, secret):
    masked = mask_secrets(text)
    assert secret not in masked
    assert "****" in masked


def test_ordinary_text_is_left_alone():
    text = "Ran 42 tests in 3.1s; see https://example.com/build/17 for the key results."
    assert mask_secrets(text) == text
    assert mask_secrets("") == ""
    assert mask_secrets(None) is None
