"""Log records with their context, in plain text or JSON, never carrying a secret.

The request id (from X-Request-ID, or made up by config.middleware), the user id and the
workspace id live in context variables for the time of a request; a run takes its
request's id with it (runs.worker sets it again in the worker), so a request's line and
every line of the run it queued share one id. Every formatted line goes through `scrub`:
the pusher client puts signed URLs (auth_signature=...) in its exceptions, and a token
in a URL or an error must never reach a log.
"""

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id: ContextVar[str | None] = ContextVar("user_id", default=None)
workspace_id: ContextVar[str | None] = ContextVar("workspace_id", default=None)

# name=value pairs (query strings, headers, reprs) whose value is a credential.
_SECRET_PAIR = re.compile(
    r"(?i)\b([\w.-]*(?:signature|secret|token|password|passwd|api[_-]?key|auth_key|"
    r"authorization|credential)[\w.-]*)(['\"]?\s*[=:]\s*['\"]?)(?:bearer\s+|token\s+)?"
    r"[^\s&'\",;)}\]]+"
)
# user:password@host in URLs.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/\s@]+):[^@/\s]+@")
REDACTED = "[redacted]"


def scrub(text: str) -> str:
    """The text with credential values replaced by [redacted]."""
    text = _SECRET_PAIR.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)


@contextlib.contextmanager
def log_context(
    request: str | None, *, user: str | None = None, workspace: str | None = None
) -> Iterator[None]:
    """Sets the ids for the records logged inside the block (a run in a worker)."""
    tokens = (request_id.set(request), user_id.set(user), workspace_id.set(workspace))
    try:
        yield
    finally:
        workspace_id.reset(tokens[2])
        user_id.reset(tokens[1])
        request_id.reset(tokens[0])


class RequestContextFilter(logging.Filter):
    """Puts the context's ids on every record (a record may bring its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (
            ("request_id", request_id),
            ("user_id", user_id),
            ("workspace_id", workspace_id),
        ):
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return scrub(super().format(record))


# Attributes every LogRecord has; anything else was passed with `extra=` and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, ids, and `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and value is not None and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(entry, default=str))
