from typing import Any

from django.conf import settings


def client_config() -> dict[str, Any]:
    """What a pusher-js or Pusher mobile client needs to connect and authorize."""
    hosted = bool(settings.PUSHER_CLUSTER) and not settings.PUSHER_HOST
    return {
        "key": settings.PUSHER_KEY,
        "ws_host": None if hosted else settings.PUSHER_HOST,
        "ws_port": None if hosted else settings.PUSHER_PORT,
        "force_tls": settings.PUSHER_SSL,
        "auth_endpoint": f"{settings.SITE_URL}/api/realtime/auth",
        # pusher-js 8 refuses options without a cluster, even with wsHost (which then
        # wins): the built-in server names Pusher's default one, unused.
        "cluster": settings.PUSHER_CLUSTER or "mt1",
    }
