"""Subscriptions follow access. The auth endpoint records whom it signed a private
channel for (user, and the API token when one was used); a socket's private channels
are read again every STREAM_ACCESS_CHECK_SECONDS, and a channel whose member was
removed, lowered below access, deactivated or whose token was revoked is taken away.

Realtime knows no accounts: the app that owns users registers `identity` (user id,
token id -> the user, or None when either is no longer valid) in its AppConfig.ready.
"""

from collections.abc import Callable
from typing import Any

from realtime.authorization import may_listen
from realtime.models import ChannelGrant

Identity = Callable[[str, str], Any]
_identity: list[Identity] = []


def register_identity(resolver: Identity) -> None:
    _identity[:] = [resolver]


def record(socket_id: str, channel: str, user: Any, token: Any) -> None:
    ChannelGrant.objects.update_or_create(
        socket_id=socket_id,
        channel=channel,
        defaults={"user_id": str(user.pk), "token_id": str(getattr(token, "pk", "") or "")},
    )


def lost_channels(socket_id: str, channels: list[str]) -> list[str]:
    """The channels among `channels` whose grant no longer holds. A channel signed by
    other means than the auth endpoint (no grant: the operator's own signer) stays."""
    lost = []
    for grant in ChannelGrant.objects.filter(socket_id=socket_id, channel__in=channels):
        user = _identity[0](grant.user_id, grant.token_id) if _identity else None
        if user is None or not may_listen(user, grant.channel):
            lost.append(grant.channel)
    return lost


def forget(socket_id: str) -> None:
    ChannelGrant.objects.filter(socket_id=socket_id).delete()
