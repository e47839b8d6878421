"""ASGI entry point for daphne: HTTP (Django, plus streaming consumers) and WebSocket."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.handler import asgi_application

# Django's handler, running each request's middleware and view in one call on a pooled
# thread (config.handler).
django_asgi_app = asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from config import memory, server  # noqa: E402
from config.routing import http_routes, websocket_routes  # noqa: E402

server.install()

django_fallback = re_path(r"", django_asgi_app)  # type: ignore[arg-type]

application = ProtocolTypeRouter(
    {
        "http": URLRouter([*http_routes, django_fallback]),
        "websocket": URLRouter(websocket_routes),
    }
)

memory.freeze_loaded()  # the server's full collections skip what is loaded (config.memory)
