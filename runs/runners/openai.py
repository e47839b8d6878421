"""An OpenAI-compatible chat-completions endpoint, streamed (`stream: true`, SSE).

Config: `base_url` (else OPENAI_BASE_URL), `model` (else OPENAI_MODEL), the key from
`api_key_env` (an environment variable name) or OPENAI_API_KEY, `system` (a system
prompt), `timeout_seconds`, `temperature`. Plain HTTP(S) with urllib: no SDK needed.
"""

import contextlib
import json
import os
import queue
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


def _request(context: RunContext) -> urllib.request.Request:
    config = context.config
    base = str(config.get("base_url") or settings.OPENAI_BASE_URL).rstrip("/")
    key_env = config.get("api_key_env")
    key = os.environ.get(key_env, "") if key_env else settings.OPENAI_API_KEY
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
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        detail = error.read(2000).decode("utf-8", "replace")
        yield LogLine("stderr", f"HTTP {error.code}: {detail}")
        yield Outcome("FAILED", error=f"The model API answered HTTP {error.code}.")
        return
    except (urllib.error.URLError, OSError) as error:
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
