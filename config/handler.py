"""Django's ASGI handler, run the way WSGI runs it: the whole middleware chain and view
in one call on a thread lent to the request.

Django's own handler loads the middleware in async mode. Our middleware is sync, and
Django's built-in ones run their hooks through `sync_to_async` in that mode, so a
request crossed between the event loop and a thread about five times, and each request
started a new thread of its own (asgiref's per-request ThreadSensitiveContext) and
another one to join it. On the 2-core bench machine that was ~5 ms before a /healthz
answered through daphne (~0.3 ms in-process). Here the chain is the sync one WSGI uses,
entered once per request (`get_response_async`), on a single-thread executor taken from
an idle pool and given back when the request is done. The request_started signal and a
response's close (request_finished, which gives the database connection back) run in
that same call: Django's `handle` crossed to the thread for each of them too, 0.2-0.4
ms a request through daphne (paired, on the bench database). A streamed response (the
SSE logs) is closed once sent, in a second call.

Thread-sensitivity holds as before: all sync code of one request runs on one thread, and
a thread serves one request at a time (as a WSGI server's threads do).
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import asgi, base
from django.http import HttpRequest, HttpResponseBase
from django.urls import set_script_prefix

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

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Django's `ASGIHandler.handle`, with a request's sync work in one call on its
        thread (`respond`): Django's crossed to the thread three times, for
        request_started, for the middleware and view, and for the response's close
        (request_finished)."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        with closing(body_file):
            set_script_prefix(asgi.get_script_prefix(scope))
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                assert error_response is not None
                await signals.request_started.asend(sender=self.__class__, scope=scope)
                await self.send_response(error_response, send)
                await sync_to_async(error_response.close)()
                return
            response = None
            try:
                try:
                    async with asyncio.TaskGroup() as group:
                        # A client gone before the answer cancels it (RequestAborted).
                        group.create_task(self.listen_for_disconnect(receive))
                        response = await self.run_get_response(request)
                        await self.send_response(response, send)
                        raise RequestProcessed
                except* (RequestProcessed, RequestAborted):
                    pass
            except BaseExceptionGroup as group_error:  # what else failed, as itself
                if len(group_error.exceptions) == 1:
                    raise group_error.exceptions[0] from None
                raise
            if response is None:
                await signals.request_finished.asend(sender=self.__class__)
            elif response.streaming:  # its content is read as it is sent: closed after
                await sync_to_async(response.close)()

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = await sync_to_async(self.respond)(request)
        return response

    def respond(self, request: HttpRequest) -> HttpResponseBase:
        """request_started, the middleware and view, then the close (request_finished: the
        database connection goes back to the pool) of a response whose content is in
        memory, before it is sent."""
        signals.request_started.send(sender=self.__class__, scope=request.scope)  # type: ignore[attr-defined]
        response = self.get_response(request)
        if not response.streaming:
            response.close()
        return response


class RequestProcessed(Exception):
    """The response went out (`ASGIHandler.handle` ends the disconnect listener with it)."""


def asgi_application() -> ASGIHandler:
    """`django.core.asgi.get_asgi_application()`, with this handler."""
    django.setup(set_prefix=False)
    return ASGIHandler()
