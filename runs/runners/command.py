"""Runs a configured command (an argv list, never a shell string) per run, always in the
sandbox (runs/runners/sandbox.py).

Config (resolved from the robot's runner profile by runs/robot_config.py): `argv`
(list of strings, required), `env` (the profile's variables), `timeout_seconds`,
`message` ("stdout": the whole standard output, the default, or "last_line"). The
profile's secrets and limits come in `context.secrets` and `context.limits`.
The prompt goes to stdin; the working directory is /workspace in the sandbox (the
repository checkout when set, else a fresh directory per run). Each stdout/stderr line
is a log line; exit code 0 is COMPLETED, others FAILED. A run past its time, CPU,
memory or output limit is killed and FAILS with a system log line saying which. On halt
the process group gets SIGTERM, then SIGKILL after RUN_HALT_GRACE_SECONDS.
"""

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Generator
from typing import IO, cast

from django.conf import settings

from runs.runners import sandbox
from runs.runners.base import (
    AssistantMessage,
    LogLine,
    Outcome,
    RunContext,
    RunnerConfigError,
    RunnerEvent,
)

OUTPUT_CAP = 32 * 1024
_EOF = object()


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


MEMORY_CHECK_SECONDS = 0.2
SIGXCPU_EXIT = {-signal.SIGXCPU, 128 + signal.SIGXCPU}  # direct, or through bwrap


def run(context: RunContext) -> Generator[RunnerEvent]:
    argv = context.config.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise RunnerConfigError("config.argv must be a non-empty list of strings.")
    if context.config.get("env_allow"):
        raise RunnerConfigError(
            "config.env_allow is no longer honoured: a run's environment is built from "
            "nothing; give values through a runner profile's variables or secrets."
        )
    timeout = float(context.config.get("timeout_seconds", context.limits.timeout_seconds))
    prepared = sandbox.prepare(context, argv)
    where = "sandbox" if settings.RUN_SANDBOX != "none" else "UNSANDBOXED"
    yield LogLine("system", f"$ {' '.join(argv)}  ({where}, network {_onoff(context)})")
    try:
        try:
            process = subprocess.Popen(
                prepared.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=prepared.cwd,
                env=prepared.env,
                text=True,
                errors="replace",
                bufsize=1,
                start_new_session=True,
                user=prepared.user,
                group=prepared.user,
                extra_groups=[] if prepared.user is not None else None,
                preexec_fn=sandbox.limiter(context.limits),  # touches no lock in the child
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
    finally:
        prepared.close()


def _onoff(context: RunContext) -> str:
    return "on" if context.network else "off"


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

    limits = context.limits
    stdout: list[str] = []
    open_streams, deadline, stopped_by = 2, time.monotonic() + timeout, ""
    output_bytes, next_memory_check = 0, 0.0
    while open_streams:
        stopped_by = _limit_passed(context, deadline, output_bytes)
        if not stopped_by and time.monotonic() >= next_memory_check:
            next_memory_check = time.monotonic() + MEMORY_CHECK_SECONDS
            if sandbox.resident_bytes(process.pid) > limits.memory_mb * 1024 * 1024:
                stopped_by = "memory"
        if stopped_by:
            grace = settings.RUN_HALT_GRACE_SECONDS if stopped_by in ("halt", "timeout") else 0
            stop_process(process, grace)
            break
        try:
            item = lines.get(timeout=MEMORY_CHECK_SECONDS)
        except queue.Empty:
            yield None  # idle: lets the worker flush what it buffered
            continue
        if item is _EOF:
            open_streams -= 1
            continue
        stream, text = cast(tuple[str, str], item)
        output_bytes += len(text.encode()) + 1
        if output_bytes > limits.max_output_bytes:
            continue  # not logged: the limit stops the run on the next turn
        if stream == "stdout":
            stdout.append(text)
        yield LogLine(stream, text)
    exit_code = process.wait()
    for pump in pumps:
        pump.join(timeout=1)
    if not stopped_by and exit_code in SIGXCPU_EXIT:
        stopped_by = "cpu"
    yield from _outcome(context, exit_code, stdout, stopped_by, timeout)


def _limit_passed(context: RunContext, deadline: float, output_bytes: int) -> str:
    if context.stop.is_set():
        return "halt"
    if time.monotonic() > deadline:
        return "timeout"
    if output_bytes > context.limits.max_output_bytes:
        return "output"
    return ""


LIMIT_MESSAGES = {
    "timeout": "Time limit of {timeout:g} s passed.",
    "cpu": "CPU limit of {limits.cpu_seconds} s passed.",
    "memory": "Memory limit of {limits.memory_mb} MB passed.",
    "output": "Output limit of {limits.max_output_bytes} bytes passed.",
}


def _outcome(
    context: RunContext, exit_code: int, stdout: list[str], stopped_by: str, timeout: float
) -> Generator[RunnerEvent]:
    if stopped_by in LIMIT_MESSAGES:
        message = LIMIT_MESSAGES[stopped_by].format(timeout=timeout, limits=context.limits)
        yield LogLine("system", f"killed: {message}")
    yield LogLine("system", f"exit code {exit_code}")
    if stopped_by == "halt":
        yield Outcome("HALTED", exit_code=exit_code, error="Halted.")
        return
    if stopped_by in LIMIT_MESSAGES:
        yield Outcome("FAILED", exit_code=exit_code, error=f"Killed: {message}")
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
