"""Runs a configured command (an argv list, never a shell string) per run.

Config: `argv` (list of strings, required), `env_allow` (names copied from the worker's
environment besides PATH/HOME/LANG), `env` (fixed values), `timeout_seconds`,
`message` ("stdout": the whole standard output, the default, or "last_line").
The prompt goes to stdin; the working directory is the repository checkout when set.
Each stdout/stderr line is a log line; exit code 0 is COMPLETED, others FAILED. On halt
the process group gets SIGTERM, then SIGKILL after RUN_HALT_GRACE_SECONDS.
"""

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Generator
from typing import IO, cast

from django.conf import settings

from runs.runners.base import (
    AssistantMessage,
    LogLine,
    Outcome,
    RunContext,
    RunnerConfigError,
    RunnerEvent,
)

BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
OUTPUT_CAP = 32 * 1024
_EOF = object()


def _die_with_parent() -> None:
    # A worker killed with SIGKILL takes its command with it (Linux), so no orphan runs on.
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _environment(context: RunContext) -> dict[str, str]:
    allowed = [*BASE_ENV, *context.config.get("env_allow", [])]
    env = {name: os.environ[name] for name in allowed if name in os.environ}
    env.update({str(k): str(v) for k, v in context.config.get("env", {}).items()})
    env["TASKDESK_TASK_ID"] = context.task_id
    env["TASKDESK_RUN_NUMBER"] = str(context.run_number)
    return env


def _pump(stream: IO[str], name: str, lines: "queue.Queue[object]") -> None:
    for line in stream:
        lines.put((name, line.rstrip("\n")))
    lines.put(_EOF)


def _feed(stdin: IO[str], prompt: str) -> None:
    with contextlib.suppress(BrokenPipeError, OSError, ValueError):
        stdin.write(prompt)
        stdin.close()


def stop_process(process: "subprocess.Popen[str]", grace: float) -> None:
    """SIGTERM to the process group, SIGKILL if it is still there after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(context: RunContext) -> Generator[RunnerEvent]:
    argv = context.config.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise RunnerConfigError("config.argv must be a non-empty list of strings.")
    timeout = float(context.config.get("timeout_seconds", settings.RUN_TIME_LIMIT_SECONDS))
    cwd = context.checkout_path or None
    yield LogLine("system", f"$ {' '.join(argv)}" + (f"  (in {cwd})" if cwd else ""))
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=_environment(context),
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # touches no lock in the child
        )
    except OSError as error:
        yield Outcome("FAILED", error=f"Could not start {argv[0]}: {error}")
        return

    try:
        yield from _watch(context, process, timeout)
    finally:  # also when the worker closes the generator early
        if process.poll() is None:
            stop_process(process, 0)
        for pipe in (process.stdin, process.stdout, process.stderr):
            with contextlib.suppress(OSError, ValueError):
                if pipe is not None:
                    pipe.close()


def _watch(
    context: RunContext, process: "subprocess.Popen[str]", timeout: float
) -> Generator[RunnerEvent]:
    lines: queue.Queue[object] = queue.Queue()
    assert process.stdin and process.stdout and process.stderr
    threading.Thread(target=_feed, args=(process.stdin, context.prompt), daemon=True).start()
    pumps = [
        threading.Thread(target=_pump, args=(pipe, name, lines), daemon=True)
        for pipe, name in ((process.stdout, "stdout"), (process.stderr, "stderr"))
    ]
    for pump in pumps:
        pump.start()

    stdout: list[str] = []
    open_streams, deadline, stopped_by = 2, time.monotonic() + timeout, ""
    while open_streams:
        if context.stop.is_set() or time.monotonic() > deadline:
            stopped_by = "halt" if context.stop.is_set() else "timeout"
            stop_process(process, settings.RUN_HALT_GRACE_SECONDS)
            break
        try:
            item = lines.get(timeout=0.2)
        except queue.Empty:
            yield None  # idle: lets the worker flush what it buffered
            continue
        if item is _EOF:
            open_streams -= 1
            continue
        stream, text = cast(tuple[str, str], item)
        if stream == "stdout":
            stdout.append(text)
        yield LogLine(stream, text)
    exit_code = process.wait()
    for pump in pumps:
        pump.join(timeout=1)
    yield from _outcome(context, exit_code, stdout, stopped_by, timeout)


def _outcome(
    context: RunContext, exit_code: int, stdout: list[str], stopped_by: str, timeout: float
) -> Generator[RunnerEvent]:
    yield LogLine("system", f"exit code {exit_code}")
    if stopped_by == "halt":
        yield Outcome("HALTED", exit_code=exit_code, error="Halted.")
        return
    if stopped_by == "timeout":
        yield Outcome("FAILED", exit_code=exit_code, error=f"Time limit of {timeout:g} s passed.")
        return
    if context.config.get("message") == "last_line":
        text = next((line for line in reversed(stdout) if line.strip()), "")
    else:
        text = "\n".join(stdout).strip()[-OUTPUT_CAP:]
    if text:
        yield AssistantMessage(text)
    if exit_code == 0:
        yield Outcome("COMPLETED", exit_code=0, output_text=text)
    else:
        yield Outcome(
            "FAILED",
            exit_code=exit_code,
            output_text=text,
            error=f"The command exited with code {exit_code}.",
        )
