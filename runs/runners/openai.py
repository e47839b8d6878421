"""An OpenAI-compatible chat-completions endpoint, streamed (`stream: true`, SSE).

Config (resolved by runs/robot_config.py): `base_url`, `model` (else OPENAI_MODEL),
`api_key` (from the runner profile's encrypted secrets; never a server variable),
`system` (a system prompt), `timeout_seconds`, `temperature`. Plain HTTP(S) with urllib.

The request goes only to a base URL the profile allows (`context.allowed_base_urls`),
never follows a redirect, and connects only to public addresses: every address the host
resolves to is checked, and the connection is made to the checked address (no second
lookup to rebind). Loopback, private, link-local and other special addresses are refused
unless RUNNER_ALLOW_PRIVATE_URLS (a local model server; the tests' fake one).
"""

import contextlib
import http.client
import ipaddress
import json
import queue
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Generator
from typing import Any

from django.conf import settings

from runs.runners.base import (
    AssistantMessage,
    LogLine,
    Outcome,
    RunContext,
    RunnerConfigError,
    RunnerEvent,
)

_DONE = object()


def _messages(context: RunContext) -> list[dict[str, str]]:
    messages = []
    if context.config.get("system"):
        messages.append({"role": "system", "content": str(context.config["system"])})
    if context.prompt:
        messages.append({"role": "user", "content": context.prompt})
    for message in context.history:
        role = "assistant" if message.role == "ASSISTANT" else "user"
        messages.append({"role": role, "content": message.text})
    if len(messages) == (1 if context.config.get("system") else 0):
        messages.append({"role": "user", "content": context.title})
    return messages


class AddressRefused(OSError):
    pass


def _public_connection(address: tuple[str, int], timeout: Any = None, *args: Any) -> socket.socket:
    """socket.create_connection, refusing non-public addresses after resolution."""
    host, port = address
    error: OSError = AddressRefused(f"{host} resolves to no address")
    for family, kind, proto, _, target in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        ip = ipaddress.ip_address(str(target[0]).split("%")[0])
        if not ip.is_global and not settings.RUNNER_ALLOW_PRIVATE_URLS:
            raise AddressRefused(f"{host} is a non-public address ({ip}): refused")
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            sock.connect(target)
            return sock
        except OSError as failed:
            sock.close()
            error = failed
    raise error


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._create_connection = _public_connection


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._create_connection = _public_connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: Any) -> Any:
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: Any) -> Any:
        return self.do_open(_HTTPSConnection, req)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is answered as an error, never followed


# No proxy from the environment either: the checked address is the one connected to.
_opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({}), _HTTPHandler, _HTTPSHandler, _NoRedirect
)


def _allowed(base: str, allowed: list[str]) -> bool:
    return any(base == a.rstrip("/") or base.startswith(a.rstrip("/") + "/") for a in allowed)


def _request(context: RunContext) -> urllib.request.Request:
    config = context.config
    base = str(config.get("base_url") or settings.OPENAI_BASE_URL).rstrip("/")
    if not base.startswith(("http://", "https://")) or not _allowed(
        base, context.allowed_base_urls
    ):
        raise RunnerConfigError(f"The base URL {base} is not one the robot's profile allows.")
    key = str(config.get("api_key") or "")
    body: dict[str, Any] = {
        "model": config.get("model") or settings.OPENAI_MODEL,
        "messages": _messages(context),
        "stream": True,
    }
    if "temperature" in config:
        body["temperature"] = config["temperature"]
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return urllib.request.Request(
        f"{base}/chat/completions", data=json.dumps(body).encode(), headers=headers
    )


def _read(response: Any, chunks: "queue.Queue[object]") -> None:
    try:
        for raw in response:
            chunks.put(raw.decode("utf-8", "replace").strip())
    except Exception as error:  # closed on halt, or the server went away
        chunks.put(error)
    chunks.put(_DONE)


def run(context: RunContext) -> Generator[RunnerEvent]:
    request = _request(context)
    model = json.loads(request.data or b"{}")["model"]  # type: ignore[arg-type]
    yield LogLine("system", f"POST {request.full_url} (model {model}, streaming)")
    timeout = float(context.config.get("timeout_seconds", 120))
    try:
        response = _opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        detail = error.read(2000).decode("utf-8", "replace")
        yield LogLine("stderr", f"HTTP {error.code}: {detail}")
        yield Outcome("FAILED", error=f"The model API answered HTTP {error.code}.")
        return
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, AddressRefused):
            yield LogLine("system", f"refused: {reason}")
            yield Outcome("FAILED", error=f"The model API address was refused: {reason}")
            return
        yield Outcome("FAILED", error=f"The model API could not be reached: {error}")
        return

    chunks: queue.Queue[object] = queue.Queue()
    threading.Thread(target=_read, args=(response, chunks), daemon=True).start()
    parts: list[str] = []
    with contextlib.closing(response):
        while True:
            if context.stop.is_set():
                yield Outcome("HALTED", output_text="".join(parts))
                return
            try:
                item = chunks.get(timeout=0.2)
            except queue.Empty:
                yield None  # idle: lets the worker flush what it buffered
                continue
            if item is _DONE:
                break
            if isinstance(item, Exception):
                yield Outcome("FAILED", error=f"The stream broke: {item}")
                return
            text = str(item)
            if not text.startswith("data:"):
                continue
            data = text[5:].strip()
            if data == "[DONE]":
                break
            delta = _delta(data)
            if delta:
                parts.append(delta)
    answer = "".join(parts)
    yield LogLine("system", f"received {len(answer)} characters")
    yield AssistantMessage(answer)
    yield Outcome("COMPLETED", output_text=answer)


def _delta(data: str) -> str:
    try:
        choice = json.loads(data)["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""
    return str((choice.get("delta") or {}).get("content") or "")
