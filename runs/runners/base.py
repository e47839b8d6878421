"""The one interface every runner implements.

A runner gets a `RunContext` and yields `LogLine`s, `AssistantMessage`s and, last, an
`Outcome`. It watches `context.stop` (set on halt, or when the run was taken away)
and returns promptly once it is set. After a message the worker waits for the next event
before writing it: if that is the outcome, the message is written with the run's end
(one commit). A runner with more work after a message yields again soon (a line, or
None as an idle tick) so that the message is not held back.
"""

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class HistoryMessage:
    role: str  # USER or ASSISTANT
    text: str
    artifacts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Limits:
    """What a `command` run may use (runs/runners/sandbox.py enforces them)."""

    timeout_seconds: float = 3600
    cpu_seconds: int = 1800
    memory_mb: int = 4096
    max_processes: int = 256
    max_open_files: int = 1024
    max_output_bytes: int = 5 * 1024 * 1024


@dataclass
class RunContext:
    task_id: str
    run_number: int
    title: str
    prompt: str
    history: list[HistoryMessage]
    config: dict[str, Any]
    checkout_path: str = ""
    stop: threading.Event = field(default_factory=threading.Event)
    # From the robot's runner profile (runs/robot_config.py): the values a run receives
    # (never in `config`, never logged), its limits, network, and for `openai` the base
    # URLs it may call.
    secrets: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    network: bool = False
    allowed_base_urls: list[str] = field(default_factory=list)

    @property
    def last_user_message(self) -> str | None:
        users = [m.text for m in self.history if m.role == "USER"]
        return users[-1] if users else None


@dataclass(frozen=True)
class LogLine:
    stream: str  # stdout, stderr, system
    line: str


@dataclass(frozen=True)
class AssistantMessage:
    text: str
    artifacts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """How the run ended. `waiting`: it asked a FORM question and waits for the reply."""

    status: str  # COMPLETED, FAILED, ERROR, HALTED
    error: str = ""
    output_text: str = ""
    exit_code: int | None = None
    waiting: bool = False


# None is an idle tick: nothing new, but the worker may flush buffered log lines.
RunnerEvent = LogLine | AssistantMessage | Outcome | None


class Runner(Protocol):
    def __call__(self, context: RunContext) -> Generator[RunnerEvent]: ...


class RunnerConfigError(ValueError):
    """The robot's config cannot run: the run FAILS with this message."""
