"""Demo conversations for `manage.py seed_demo`: one answered thread, one waiting on a FORM."""

from collections.abc import Sequence

from django.db import transaction

from accounts.models import User, Workspace
from chat.models import ArtifactType
from chat.services import ArtifactInput, post_assistant_message, post_message
from tasks import counters
from tasks.models import Task, WorkflowStatus
from tasks.workflow import ACTIVE

OWN_TASK_TITLES = ("Fix the flaky login test", "Pick the browsers for the e2e suite")


@transaction.atomic
def seed_conversations(
    workspace: Workspace, owner: User, tasks: Sequence[Task] | None = None
) -> None:
    """Talks on `tasks` (default: the workspace's oldest tasks, or two of its own).

    Idempotent: a task that already has messages is left alone. No runs are queued:
    the demo's messages are history, not requests.
    """
    chosen = list(tasks) if tasks is not None else _demo_tasks(workspace, owner)
    answered, waiting = _pick(chosen)
    if not answered.chat_messages.exists():
        _answered_thread(answered, owner)
    if not waiting.chat_messages.exists():
        _waiting_thread(waiting, owner)


def _demo_tasks(workspace: Workspace, owner: User) -> list[Task]:
    existing = list(Task.objects.filter(workspace=workspace, deleted=False).order_by("created_at"))
    if len(existing) >= 2:
        return existing
    # The second one is created running: only those wait for input.
    tasks = []
    for title, status in zip(OWN_TASK_TITLES, (None, WorkflowStatus.IN_PROGRESS), strict=True):
        task, created = Task.objects.get_or_create(
            workspace=workspace,
            title=title,
            defaults={"created_by": owner, "workflow_status": status},
        )
        if created:
            counters.created(task)
        tasks.append(task)
    return tasks


def _pick(tasks: Sequence[Task]) -> tuple[Task, Task]:
    """The FORM goes to a running task when there is one: only those wait for input."""
    if len(tasks) < 2:
        raise ValueError("seed_conversations needs at least two tasks")
    active = [t for t in tasks if t.workflow_status in ACTIVE]
    waiting = active[0] if active else tasks[-1]
    answered = next(t for t in tasks if t.pk != waiting.pk)
    return answered, waiting


def _answered_thread(task: Task, owner: User) -> None:
    post_message(
        task=task,
        message="The login test fails about one run in ten. Can you find out why?",
        author=owner,
        ask_robot=False,
    )
    post_assistant_message(
        task,
        "The test clicks before the form is enabled. I wait for the button now "
        "and opened a pull request.",
        artifacts=[
            ArtifactInput(
                type=ArtifactType.CODE,
                content={
                    "language": "python",
                    "file": "tests/e2e/test_login.py",
                    "content": "page.get_by_role('button', name='Sign in').click()",
                },
            ),
            ArtifactInput(
                type=ArtifactType.PULL_REQUEST,
                content={"url": "https://git.example.com/demo/pulls/7", "status": "open"},
                icon="git-pull-request",
            ),
        ],
    )
    post_message(task=task, message="Great, thanks!", author=owner, ask_robot=False)


def _waiting_thread(task: Task, owner: User) -> None:
    post_message(
        task=task,
        message="Set up the e2e suite for the browsers our customers use.",
        author=owner,
        ask_robot=False,
    )
    post_assistant_message(
        task,
        "Which browsers should the suite run on?",
        artifacts=[
            ArtifactInput(
                type=ArtifactType.FORM,
                content={
                    "actionText": "Choose the browsers",
                    "webhook": "",
                    "options": [
                        {"actionType": "button", "optionLabel": "Chromium only"},
                        {"actionType": "button", "optionLabel": "Chromium and Firefox"},
                        {"actionType": "button", "optionLabel": "All three, with WebKit"},
                    ],
                },
            )
        ],
    )
