"""Runners: what actually answers a task. `runner_for(kind)` picks one by the robot's kind."""

from tasks.runners.base import (
    AssistantMessage,
    HistoryMessage,
    LogLine,
    Outcome,
    RunContext,
    Runner,
    RunnerConfigError,
    RunnerEvent,
)


def runner_for(kind: str) -> Runner:
    from tasks.runners import command, openai, scripted

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
    "LogLine",
    "Outcome",
    "RunContext",
    "Runner",
    "RunnerConfigError",
    "RunnerEvent",
    "runner_for",
]
