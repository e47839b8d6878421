"""Django's ASGI handler, run the way WSGI runs it: the whole middleware chain and view
in one call on a thread lent to the request.

Django's own handler loads the middleware in async mode. Our middleware is sync, and
Django's built-in ones run their hooks through `sync_to_async` in that mode, so a
request crossed between the event loop and a thread about five times, and each request
started a new thread of its own (asgiref's per-request ThreadSensitiveContext) and
another one to join it. On the 2-core bench machine that was ~5 ms before a /healthz
answered through daphne (~0.3 ms in-process). Here the chain is the sync one WSGI uses,
entered once per request (`get_response_async`), on a single-thread executor taken from
an idle pool and given back when the request is done.

Thread-sensitivity holds as before: all sync code of one request runs on one thread, and
a thread serves one request at a time (as a WSGI server's threads do).
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers import asgi, base
from django.http import HttpRequest, HttpResponseBase

# Idle request threads kept for the next requests; beyond, a thread ends with its request.
MAX_IDLE_THREADS = 32


def request_thread() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")


class ASGIHandler(asgi.ASGIHandler):
    def __init__(self) -> None:
        base.BaseHandler.__init__(self)  # not asgi.ASGIHandler's async middleware chain
        self.load_middleware(is_async=False)
        self.idle: list[ThreadPoolExecutor] = []  # touched by the event loop's thread only

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = self.idle.pop() if self.idle else request_thread()
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            # Nothing of the request is left on the thread: a `sync_to_async` call, even
            # cancelled (the client went away), returns only when its thread call has.
            if len(self.idle) < MAX_IDLE_THREADS:
                self.idle.append(thread)
            else:
                thread.shutdown(wait=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = await sync_to_async(self.get_response)(request)
        return response


def asgi_application() -> ASGIHandler:
    """`django.core.asgi.get_asgi_application()`, with this handler."""
    django.setup(set_prefix=False)
    return ASGIHandler()
