"""Runners: what actually answers a task. `runner_for(kind)` picks one by the robot's kind."""

from runs.runners import command, openai, scripted
from runs.runners.base import (
    AssistantMessage,
    HistoryMessage,
    Limits,
    LogLine,
    Outcome,
    RunContext,
    Runner,
    RunnerConfigError,
    RunnerEvent,
)


def runner_for(kind: str) -> Runner:
    runners: dict[str, Runner] = {
        "scripted": scripted.run,
        "command": command.run,
        "openai": openai.run,
    }
    if kind not in runners:
        raise RunnerConfigError(f"Unknown runner {kind!r}.")
    return runners[kind]


__all__ = [
    "AssistantMessage",
    "HistoryMessage",
    "Limits",
    "LogLine",
    "Outcome",
    "RunContext",
    "Runner",
    "RunnerConfigError",
    "RunnerEvent",
    "runner_for",
]
