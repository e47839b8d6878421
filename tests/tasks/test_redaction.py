"""tasks.redaction: what a task produced has its secrets masked before it is stored
or served (output, errors, log lines, a robot's answers)."""

import pytest

from tasks.redaction import redact


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
    masked = redact(text)
    assert secret not in masked
    assert "****" in masked


def test_ordinary_text_is_left_alone():
    text = "Ran 42 tests in 3.1s; see https://example.com/build/17 for the key results."
    assert redact(text) == text
    assert redact("") == ""
    assert redact(None) is None


def test_literal_secrets_of_a_robot_are_masked_too():
    assert redact("the key is hunter2-secret.", ["hunter2-secret"]) == "the key is ****."


def test_prefixes_stay_so_a_reader_sees_what_was_there():
    assert redact("token count: 42 tokens used") == "token count: 42 tokens used"
    assert redact("AKIAABCDEFGHIJKLMNOP") == "AKIA****"
    assert redact("api_key: 'abcd1234efgh'") == "api_key: '****'"
    assert redact("td_abcdefghijklmnopqrstuv") == "td_****"
