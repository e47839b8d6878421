"""The pieces of the Pusher Channels protocol (version 7) the server, the auth
endpoint and the tests share: signatures, socket ids, channel names and groups."""

import hashlib
import hmac
import json
import re
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

PROTOCOL_VERSION = 7
MIN_PROTOCOL_VERSION = 5  # what pusher-js and the mobile SDKs have sent for years
ACTIVITY_TIMEOUT = 120  # seconds; the client pings after this much silence
SOCKET_ID = re.compile(r"\A\d+\.\d+\Z")
CHANNEL_NAME = re.compile(r"\A[-a-zA-Z0-9_=@,.;]{1,164}\Z")
PRIVATE_PREFIX = "private-"
# Pusher's limit on one event's data, in bytes of UTF-8.
MAX_EVENT_BYTES = 10 * 1024

# pusher:error codes (https://pusher.com/docs/channels/library_auth_reference/pusher-websockets-protocol/)
APP_NOT_FOUND = 4001  # close: unknown app key
UNSUPPORTED_PROTOCOL = 4007
UNAUTHORIZED = 4009
GENERIC_REJECTION = 4200  # not closed; the client may go on
# Close codes: pusher-js reconnects at once after 4200-4299, after a backoff after 4100-4199.
RECONNECT_NOW = 4200
RECONNECT_LATER = 4100


def sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def channel_auth(socket_id: str, channel: str) -> str:
    """`key:signature` that lets this socket subscribe to this private channel."""
    return f"{settings.PUSHER_KEY}:{sign(settings.PUSHER_SECRET, f'{socket_id}:{channel}')}"


def valid_channel_auth(socket_id: str, channel: str, auth: object) -> bool:
    return isinstance(auth, str) and hmac.compare_digest(auth, channel_auth(socket_id, channel))


def group_name(channel: str) -> str:
    """Channels group names allow only [a-zA-Z0-9_.-] under 100 chars: hash the name."""
    return "pusher." + hashlib.sha256(channel.encode()).hexdigest()


def encode_data(data: Any) -> str:
    """The wire form of an event's data: JSON (a message id becomes a JSON string;
    UUIDs and datetimes become strings, as in the REST API)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)
