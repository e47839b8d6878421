"""Demo robots for `seed_demo`: one of each runner kind that works offline."""

import sys

from accounts.models import Workspace
from tasks.models import Robot, RunnerKind

DEMO_ROBOTS = [
    ("Echo robot", RunnerKind.SCRIPTED, {}),
    (
        "Scripted demo",
        RunnerKind.SCRIPTED,
        {
            "steps": [
                {"log": "cloning the repository"},
                {"sleep": 1},
                {"log": "running the tests"},
                {
                    "message": "The tests pass. Here is the change.",
                    "artifacts": [{"type": "DIFF", "content": {"diff": "-old\n+new"}}],
                },
                {"form": "Shall I open a pull request?"},
            ]
        },
    ),
    (
        "Python command",
        RunnerKind.COMMAND,
        {"argv": [sys.executable, "-c", "import sys; print('You said:', sys.stdin.read())"]},
    ),
]


def seed_robots(workspace: Workspace) -> list[Robot]:
    """Creates the demo robots once (by name); leaves edited ones alone."""
    return [
        Robot.objects.get_or_create(
            workspace=workspace, name=name, defaults={"runner": runner, "config": config}
        )[0]
        for name, runner, config in DEMO_ROBOTS
    ]
