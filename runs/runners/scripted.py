"""The built-in, deterministic runner: no network, no processes.

Empty config: three log lines, then `Echo: <last USER message or the title>`, COMPLETED.
`config.steps` scripts it, each step one of: `{"log": "text", "stream"?: "stderr"}`,
`{"message": "text", "artifacts"?: [{type, content, icon?}]}`, `{"form": "question",
"fields"?: [...]}` (asks and ends the run waiting for the reply), `{"sleep": seconds}`,
`{"fail": "reason"}`.
"""

import time
from collections.abc import Generator

from runs.runners.base import (
    AssistantMessage,
    LogLine,
    Outcome,
    RunContext,
    RunnerConfigError,
    RunnerEvent,
)


def run(context: RunContext) -> Generator[RunnerEvent]:
    steps = context.config.get("steps")
    if not steps:
        yield from _echo(context)
        return
    if not isinstance(steps, list):
        raise RunnerConfigError("config.steps must be a list.")
    for step in steps:
        if context.stop.is_set():
            yield Outcome("HALTED")
            return
        if not isinstance(step, dict):
            raise RunnerConfigError(f"A step must be an object, not {step!r}.")
        if "log" in step:
            yield LogLine(step.get("stream", "stdout"), str(step["log"]))
        elif "message" in step:
            yield AssistantMessage(str(step["message"]), list(step.get("artifacts", [])))
        elif "form" in step:
            content = {"question": str(step["form"]), "fields": step.get("fields", [])}
            yield AssistantMessage(str(step["form"]), [{"type": "FORM", "content": content}])
            yield Outcome("COMPLETED", waiting=True, output_text=str(step["form"]))
            return
        elif "sleep" in step:
            deadline = time.monotonic() + float(step["sleep"])
            while (left := deadline - time.monotonic()) > 0:
                if context.stop.wait(min(left, 0.2)):
                    yield Outcome("HALTED")
                    return
                yield None  # idle tick: buffered log lines get written meanwhile
        elif "fail" in step:
            yield Outcome("FAILED", error=str(step["fail"]))
            return
        else:
            raise RunnerConfigError(f"Unknown step {step!r}.")
    yield Outcome("COMPLETED")


def _echo(context: RunContext) -> Generator[RunnerEvent]:
    asked = context.last_user_message
    text = f"Echo: {asked if asked is not None else context.title}"
    yield LogLine("system", f"scripted runner: run {context.run_number} of task {context.task_id}")
    yield LogLine("stdout", f"reading {len(context.history)} chat message(s)")
    yield LogLine("stdout", "answering")
    yield AssistantMessage(text)
    yield Outcome("COMPLETED", output_text=text)
