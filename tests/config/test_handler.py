"""config.handler: Django under ASGI runs each request's middleware and view in one call
on a thread lent to it, which serves later requests once the request is done."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest
from asgiref.testing import ApplicationCommunicator
from django.core import signals
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.urls import path

from config.handler import ASGIHandler

seen: list[int] = []
release = threading.Event()


def where(request: HttpRequest) -> JsonResponse:
    seen.append(threading.get_ident())
    return JsonResponse({"thread": threading.get_ident()})


def slow(request: HttpRequest) -> JsonResponse:
    seen.append(threading.get_ident())
    release.wait(10)
    return JsonResponse({})


def stream(request: HttpRequest) -> StreamingHttpResponse:
    seen.append(threading.get_ident())

    async def parts() -> AsyncIterator[bytes]:  # as the SSE streams' (read on the loop)
        yield b"part"

    return StreamingHttpResponse(parts())


urlpatterns = [path("where", where), path("slow", slow), path("stream", stream)]


def scope(path: str) -> dict[str, object]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def exchange(handler: ASGIHandler, path: str) -> tuple[int, bytes]:
    """A GET through `handler`: its status and its first body message."""
    communicator = ApplicationCommunicator(handler, scope(path))
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(5)
    body = await communicator.receive_output(5)
    await communicator.wait(5)
    return int(start["status"]), body["body"]


async def get(handler: ASGIHandler, path: str) -> int:
    status, _ = await exchange(handler, path)
    return status


@pytest.fixture(autouse=True)
def fresh():
    seen.clear()
    release.clear()
    yield
    release.set()


@pytest.mark.urls("tests.config.test_handler")
@pytest.mark.django_db(transaction=True)
def test_requests_run_on_a_lent_thread_that_later_requests_reuse():
    handler = ASGIHandler()

    async def three() -> list[int]:
        return [await get(handler, "/where") for _ in range(3)]

    assert asyncio.run(three()) == [200, 200, 200]
    assert len(set(seen)) == 1 and seen[0] != threading.get_ident()
    assert len(handler.idle) == 1


@pytest.mark.urls("tests.config.test_handler")
@pytest.mark.django_db(transaction=True)
def test_a_request_given_up_keeps_its_thread_until_its_view_ends():
    asyncio.run(abandon_a_slow_request())


async def abandon_a_slow_request() -> None:
    """The server gives up on a request whose client left (daphne cancels the
    application after its close timeout) while its view still runs: the thread serves no
    other request before that view ends."""
    handler = ASGIHandler()
    communicator = ApplicationCommunicator(handler, scope("/slow"))
    await communicator.send_input({"type": "http.request", "body": b""})
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        await communicator.receive_nothing(0.05)
    await communicator.send_input({"type": "http.disconnect"})
    communicator.future.cancel()
    await asyncio.sleep(0.2)
    assert not communicator.future.done() and handler.idle == []
    release.set()
    await communicator.wait(5)
    assert await get(handler, "/where") == 200
    assert seen[0] == seen[1]  # the same thread, once the slow view had ended


@pytest.mark.urls("tests.config.test_handler")
@pytest.mark.django_db(transaction=True)
def test_a_request_crosses_to_its_thread_once():
    """request_started, the middleware and view, and the close of a response in memory
    (request_finished) run in one call on the request's thread; a streamed response is
    closed after it is sent, in a second call."""
    handler = ASGIHandler()
    events: list[tuple[str, int]] = []

    def started(**kwargs: object) -> None:
        events.append(("started", threading.get_ident()))

    def finished(**kwargs: object) -> None:
        events.append(("finished", threading.get_ident()))

    async def count_calls(path: str) -> int:
        (thread,) = handler.idle  # the thread of the requests before
        calls = 0
        submit = thread.submit

        def counted(*args: object, **kwargs: object) -> object:
            nonlocal calls
            calls += 1
            return submit(*args, **kwargs)  # type: ignore[arg-type]

        thread.submit = counted  # type: ignore[method-assign]
        try:
            assert await get(handler, path) == 200
        finally:
            del thread.submit
        return calls

    async def requests() -> tuple[int, int]:
        await get(handler, "/where")
        events.clear()
        return await count_calls("/where"), await count_calls("/stream")

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        assert asyncio.run(requests()) == (1, 2)
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    view_thread = seen[-1]
    assert events == [("started", view_thread), ("finished", view_thread)] * 2
