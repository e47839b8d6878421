"""Demo data for `manage.py seed_demo`: two repositories, three scripted robots, one
`command` robot (on the `demo-shell` runner profile made here, sandboxed like every
command run) and about forty tasks in varied states across groups, so the console
shows something real.

Idempotent: rows are looked up by name or binding key, and the tasks are only
created once per workspace.
"""

from datetime import timedelta

from django.utils import timezone

from accounts.models import User, Workspace
from tasks import counters
from tasks.models import (
    EventType,
    GroupKind,
    Priority,
    Repository,
    Robot,
    RunnerProfile,
    SourceType,
    Task,
    TaskGroup,
    TaskStatus,
    WorkflowStatus,
)

DEMO_MARK = "demo"  # Task.pod_id of the seeded tasks: how a re-run recognises them.

REPOSITORIES = [
    ("taskdesk-web", "https://git.example.com/demo/taskdesk-web.git", "main"),
    ("taskdesk-api", "https://git.example.com/demo/taskdesk-api.git", "main"),
]
ROBOTS = [
    ("Echo robot", 0, {}),
    ("Reviewer", 0, {"steps": [{"log": "Reading the diff"}, {"message": "Looks good to me."}]}),
    (
        "Asker",
        1,
        # The scripted runner's form step: the question, and the answers as buttons.
        {"steps": [{"form": "Which branch should I use?", "fields": ["main", "dev"]}]},
    ),
]
# The demo's command robot: its profile runs a shell line in the sandbox (no network),
# answering with the prompt it read on stdin.
DEMO_PROFILE = "demo-shell"
DEMO_PROFILE_ARGV = ["sh", "-c", 'echo "$GREETING"; cat']
COMMAND_ROBOT = "Shell robot"
GROUPS = [
    (GroupKind.ISSUE, "#12", "Login fails on Safari", 0),
    (GroupKind.ISSUE, "#15", "Dark mode colours", 0),
    (GroupKind.MERGE_REQUEST, "!7", "Add rate limiting", 1),
    (GroupKind.COMMIT, "3f2a9c1", "Bump dependencies", 1),
    (GroupKind.CHAT, "chat-1", "Chat about the README", 0),
]
TITLES = [
    "Fix the login redirect",
    "Write tests for the token API",
    "Explain the build failure",
    "Refactor the settings module",
    "Add pagination to members",
    "Review the rate limiter",
    "Update the README",
    "Investigate flaky test",
]
WORKFLOWS: list[str | None] = [
    WorkflowStatus.COMPLETED,
    WorkflowStatus.COMPLETED,
    WorkflowStatus.IN_PROGRESS,
    WorkflowStatus.PENDING,
    WorkflowStatus.FAILED,
    WorkflowStatus.ERROR,
    WorkflowStatus.HALTED,
    None,
]
BOARD: dict[str | None, str] = {
    WorkflowStatus.COMPLETED: TaskStatus.DONE,
    WorkflowStatus.IN_PROGRESS: TaskStatus.IN_PROGRESS,
    WorkflowStatus.PENDING: TaskStatus.IN_PROGRESS,
    WorkflowStatus.FAILED: TaskStatus.BLOCKED,
    WorkflowStatus.ERROR: TaskStatus.BLOCKED,
    WorkflowStatus.HALTED: TaskStatus.CANCELLED,
    None: TaskStatus.TODO,
}
TASK_COUNT = 40


def seed_tasks(workspace: Workspace, owner: User) -> None:
    repos = [
        Repository.objects.get_or_create(
            workspace=workspace,
            name=name,
            defaults={"repository_url": url, "default_branch": branch},
        )[0]
        for name, url, branch in REPOSITORIES
    ]
    robots = [
        Robot.objects.get_or_create(
            workspace=workspace,
            name=name,
            defaults={"repository": repos[repo], "runner": "scripted", "config": config},
        )[0]
        for name, repo, config in ROBOTS
    ]
    seed_command_robot(workspace, repos[0])
    groups = [
        TaskGroup.objects.get_or_create(
            workspace=workspace,
            repository=repos[repo],
            kind=kind,
            binding_key=key,
            defaults={"title": title, "robot": robots[repo]},
        )[0]
        for kind, key, title, repo in GROUPS
    ]
    if Task.objects.filter(workspace=workspace, pod_id=DEMO_MARK).exists():
        return
    now = timezone.now()
    tasks = []
    for n in range(TASK_COUNT):
        workflow = WORKFLOWS[n % len(WORKFLOWS)]
        group = groups[n % len(groups)] if n % 4 else None
        repo = group.repository if group else repos[n % 2]
        started = now - timedelta(days=n % 25, hours=n)
        tasks.append(
            Task(
                workspace=workspace,
                title=f"{TITLES[n % len(TITLES)]} ({n + 1})",
                description="A demo task seeded by seed_demo.",
                status=BOARD[workflow],
                workflow_status=workflow,
                priority=list(Priority)[n % 4],
                source_type=SourceType.USER if n % 5 else SourceType.WEBHOOK,
                event_type=EventType.CHAT
                if group and group.kind == GroupKind.CHAT
                else EventType.MANUAL,
                pod_id=DEMO_MARK,
                branch=repo.default_branch if repo else "",
                prompt=f"{TITLES[n % len(TITLES)]}.",
                output_text="Done." if workflow == WorkflowStatus.COMPLETED else "",
                error="Exit code 1"
                if workflow in (WorkflowStatus.FAILED, WorkflowStatus.ERROR)
                else "",
                repository=repo,
                robot=robots[n % len(robots)],
                group=group,
                created_by=owner,
                assignee=owner if n % 3 == 0 else None,
                archived=n % 13 == 12,
                archived_at=now if n % 13 == 12 else None,
                workflow_started_at=started if workflow else None,
                workflow_completed_at=started + timedelta(minutes=3)
                if workflow not in (None, WorkflowStatus.PENDING, WorkflowStatus.IN_PROGRESS)
                else None,
            )
        )
    with counters.tracked([task.pk for task in tasks]):
        Task.objects.bulk_create(tasks)
        # created_at/updated_at are automatic; spread them so the volume chart has a shape.
        for n, task in enumerate(tasks):
            Task.objects.filter(pk=task.pk).update(
                created_at=now - timedelta(days=n % 25, hours=n),
                updated_at=now - timedelta(hours=n),
            )


def seed_command_robot(workspace: Workspace, repository: Repository) -> Robot:
    profile, _ = RunnerProfile.objects.get_or_create(
        name=DEMO_PROFILE,
        defaults={
            "runner": "command",
            "argv": DEMO_PROFILE_ARGV,
            "variables": {"GREETING": "The demo shell robot read:"},
            "timeout_seconds": 60,
            "cpu_seconds": 10,
            "memory_mb": 256,
            "max_processes": 32,
        },
    )
    profile.workspaces.add(workspace)
    return Robot.objects.get_or_create(
        workspace=workspace,
        name=COMMAND_ROBOT,
        defaults={
            "repository": repository,
            "runner": "command",
            "config": {"profile": profile.name},
        },
    )[0]
