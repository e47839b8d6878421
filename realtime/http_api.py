"""Checks of a publish request to Pusher's HTTP API, as the built-in server takes it.

A request is accepted only with this app's key, a fresh timestamp (±600 s), the
md5 of its body, and `auth_signature` = HMAC-SHA256(secret,
"POST\\n<path>\\n<sorted query without auth_signature>").
"""

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings

from realtime import protocol
from realtime.protocol import MAX_EVENT_BYTES

MAX_TIMESTAMP_SKEW = 600
MAX_CHANNELS_PER_EVENT = 100
MAX_BATCH = 10


class PublishRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class PublishedEvent:
    name: str
    channels: list[str]
    data: str
    socket_id: str | None


def parse_publish(
    *, method: str, path: str, query_string: str, body: bytes, app_id: str, batch: bool
) -> list[PublishedEvent]:
    if method != "POST":
        raise PublishRefused(405, "Only POST is allowed")
    if app_id != settings.PUSHER_APP_ID:
        raise PublishRefused(404, f"Unknown app {app_id}")
    check_signature(method, path, query_string, body)
    try:
        payload = json.loads(body)
    except ValueError:
        raise PublishRefused(400, "The body is not JSON") from None
    if not isinstance(payload, dict):
        raise PublishRefused(400, "The body is not a JSON object")
    if batch:
        items = payload.get("batch")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            raise PublishRefused(400, f"batch must be a list of 1 to {MAX_BATCH} events")
        return [_event(item, batch=True) for item in items]
    return [_event(payload, batch=False)]


def check_signature(method: str, path: str, query_string: str, body: bytes) -> None:
    params = dict(parse_qsl(query_string, keep_blank_values=True))
    signature = params.pop("auth_signature", "")
    if params.get("auth_key") != settings.PUSHER_KEY:
        raise PublishRefused(401, "Unknown auth_key")
    if params.get("auth_version") != "1.0":
        raise PublishRefused(401, "auth_version must be 1.0")
    try:
        skew = abs(time.time() - int(params.get("auth_timestamp", "")))
    except ValueError:
        raise PublishRefused(401, "auth_timestamp is missing") from None
    if skew > MAX_TIMESTAMP_SKEW:
        raise PublishRefused(401, "auth_timestamp is more than 600 s away from server time")
    if body and not hmac.compare_digest(params.get("body_md5", ""), hashlib.md5(body).hexdigest()):
        raise PublishRefused(401, "body_md5 does not match the body")
    query = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    expected = protocol.sign(settings.PUSHER_SECRET, f"{method}\n{path}\n{query}")
    if not hmac.compare_digest(signature, expected):
        raise PublishRefused(401, "Invalid signature")


def _event(item: Any, *, batch: bool) -> PublishedEvent:
    if not isinstance(item, dict):
        raise PublishRefused(400, "An event is a JSON object")
    name, data, socket_id = item.get("name"), item.get("data"), item.get("socket_id")
    channels = [item.get("channel")] if batch else item.get("channels") or [item.get("channel")]
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        raise PublishRefused(400, "name must be 1 to 200 characters")
    if not isinstance(data, str):
        raise PublishRefused(400, "data must be a string")
    if len(data.encode("utf-8")) > MAX_EVENT_BYTES:
        raise PublishRefused(413, f"data is over {MAX_EVENT_BYTES} bytes")
    if not isinstance(channels, list) or not 0 < len(channels) <= MAX_CHANNELS_PER_EVENT:
        raise PublishRefused(400, f"channels must list 1 to {MAX_CHANNELS_PER_EVENT} channels")
    for channel in channels:
        if not isinstance(channel, str) or not protocol.CHANNEL_NAME.match(channel):
            raise PublishRefused(400, f"Invalid channel {channel!r}")
    if socket_id is not None and (
        not isinstance(socket_id, str) or not protocol.SOCKET_ID.match(socket_id)
    ):
        raise PublishRefused(400, "Invalid socket_id")
    return PublishedEvent(name=name, channels=channels, data=data, socket_id=socket_id)
