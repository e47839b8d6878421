import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Workspace


class TaskStatus(models.TextChoices):
    """The board column."""

    TODO = "TODO"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    CANCELLED = "CANCELLED"
    BLOCKED = "BLOCKED"


class WorkflowStatus(models.TextChoices):
    """Where execution is."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    HALTED = "HALTED"
    FAILED = "FAILED"


class Priority(models.TextChoices):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class SourceType(models.TextChoices):
    USER = "USER"
    JANITOR = "JANITOR"
    TASK_COORDINATOR = "TASK_COORDINATOR"
    SYSTEM = "SYSTEM"
    WEBHOOK = "WEBHOOK"


class Mode(models.TextChoices):
    LIVE = "live"
    AGENT = "agent"


class EventType(models.TextChoices):
    """What created the task."""

    ISSUE = "issue"
    COMMIT = "commit"
    MERGE_REQUEST = "merge_request"
    CHAT = "chat"
    MANUAL = "manual"


class GroupKind(models.TextChoices):
    ISSUE = "issue"
    MERGE_REQUEST = "merge_request"
    COMMIT = "commit"
    TASK = "task"
    CHAT = "chat"


class RunnerKind(models.TextChoices):
    SCRIPTED = "scripted"
    COMMAND = "command"
    OPENAI = "openai"


class Repository(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="repositories")
    name = models.CharField(max_length=200)
    repository_url = models.URLField(max_length=500)
    default_branch = models.CharField(max_length=200, default="main")
    checkout_path = models.CharField(
        max_length=500, blank=True, help_text="Working directory of `command` runs."
    )
    webhook_secret = models.CharField(
        max_length=200,
        blank=True,
        help_text="Verifies inbound GitHub/GitLab webhooks (HMAC needs it as is); never "
        "returned by the API.",
    )
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "repositories"
        ordering = ["name"]
        indexes = [models.Index(fields=["workspace", "name"], name="repository_ws_name_idx")]

    def __str__(self) -> str:
        return self.name

    def webhook_url(self, provider: str) -> str:
        """What to paste into GitHub or GitLab (the integrations app serves it)."""
        return f"{settings.SITE_URL}/api/webhooks/{provider}/{self.pk}"

    @property
    def webhook_provider(self) -> str:
        return "gitlab" if "gitlab" in self.repository_url.lower() else "github"


class RunnerProfile(models.Model):
    """How `command` and `openai` robots run, defined by the operator (staff, in the admin,
    or `manage.py load_runner_profiles`): the argv template or model endpoint, the secrets
    the run receives (encrypted, write-only: tasks.vault), network, limits, and the
    workspaces allowed to use it. A robot names it in `config.profile` and may override
    only its declared `variables`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.SlugField(max_length=100, unique=True)
    runner = models.CharField(
        max_length=16,
        choices=[(RunnerKind.COMMAND, "Command"), (RunnerKind.OPENAI, "OpenAI-compatible")],
    )
    argv = models.JSONField(
        default=list, blank=True, help_text='command: argv template; "{NAME}" takes a variable.'
    )
    base_url = models.URLField(max_length=500, blank=True, help_text="openai: the endpoint.")
    allowed_base_urls = models.JSONField(
        default=list, blank=True, help_text="openai: further base URLs a `base_url` may name."
    )
    variables = models.JSONField(
        default=dict,
        blank=True,
        help_text="Declared variables and their defaults; robots may override only these. "
        "command: also the run's environment. openai: model, system, temperature.",
    )
    secrets_sealed = models.TextField(blank=True, editable=False)
    network = models.BooleanField(default=False, help_text="command: the run may use the network.")
    timeout_seconds = models.PositiveIntegerField(default=3600)
    cpu_seconds = models.PositiveIntegerField(default=1800)
    memory_mb = models.PositiveIntegerField(default=4096)
    max_processes = models.PositiveIntegerField(default=256)
    max_open_files = models.PositiveIntegerField(default=1024)
    max_output_bytes = models.PositiveIntegerField(default=5 * 1024 * 1024)
    all_workspaces = models.BooleanField(default=False)
    workspaces = models.ManyToManyField(Workspace, blank=True, related_name="runner_profiles")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def allows(self, workspace_id: uuid.UUID) -> bool:
        return self.all_workspaces or self.workspaces.filter(pk=workspace_id).exists()


class Robot(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="robots")
    repository = models.ForeignKey(
        Repository, null=True, blank=True, on_delete=models.SET_NULL, related_name="robots"
    )
    name = models.CharField(max_length=200)
    runner = models.CharField(
        max_length=16, choices=RunnerKind.choices, default=RunnerKind.SCRIPTED
    )
    config = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["workspace", "name"], name="robot_ws_name_idx")]

    def __str__(self) -> str:
        return self.name


class Feature(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="features_set")
    title = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.title


class TaskGroup(models.Model):
    """The history of one issue, merge request, commit or chat: its tasks, one running at a time."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="task_groups")
    kind = models.CharField(max_length=16, choices=GroupKind.choices)
    binding_key = models.CharField(
        max_length=300, blank=True, help_text="What the group is about: issue number, SHA, ..."
    )
    title = models.CharField(max_length=500, blank=True)
    repository = models.ForeignKey(
        Repository, null=True, blank=True, on_delete=models.SET_NULL, related_name="task_groups"
    )
    robot = models.ForeignKey(
        Robot, null=True, blank=True, on_delete=models.SET_NULL, related_name="task_groups"
    )
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, help_text="Last activity.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["repository", "kind", "binding_key"],
                condition=~Q(binding_key=""),
                name="taskgroup_unique_binding",
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "-updated_at", "-id"], name="taskgroup_ws_recent_idx")
        ]

    def __str__(self) -> str:
        return self.title or f"{self.kind} {self.binding_key}"


# What a filtered count's conditions read beside its filter (live, archived, the list's
# "recent" rule, the stats' statuses and awaiting_input): the filters' covering indexes
# include them, so PostgreSQL counts from the index alone.
COUNTED_COLUMNS = ["deleted", "archived", "status", "workflow_status", "awaiting_input"]


class Task(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace,
        on_delete=models.CASCADE,
        related_name="tasks",
        db_index=False,  # task_ws_source_event_idx leads with it
    )
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True, null=True)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.TODO)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.MEDIUM)
    workflow_status = models.CharField(
        max_length=16, choices=WorkflowStatus.choices, null=True, blank=True
    )
    source_type = models.CharField(
        max_length=20, choices=SourceType.choices, default=SourceType.USER
    )
    event_type = models.CharField(
        max_length=16, choices=EventType.choices, default=EventType.MANUAL
    )
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.AGENT)
    pod_id = models.CharField(max_length=200, null=True, blank=True)
    branch = models.CharField(max_length=300, blank=True)
    prompt = models.TextField(blank=True)
    output_text = models.TextField(blank=True)
    error = models.TextField(blank=True)
    retries = models.PositiveIntegerField(default=0)
    log_seq = models.PositiveBigIntegerField(
        default=0, help_text="The last log seq given out; log lines of all runs number on from it."
    )
    # Kept by the chat services in the same transaction as the messages they count:
    message_count = models.PositiveIntegerField(default=0, help_text="`_count.chatMessages`.")
    awaiting_input = models.BooleanField(
        default=False, help_text="The newest ASSISTANT message carries an unanswered FORM."
    )
    archived = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    workflow_started_at = models.DateTimeField(null=True, blank=True)
    workflow_completed_at = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tasks",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="created_tasks",
    )
    feature = models.ForeignKey(
        Feature, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    repository = models.ForeignKey(
        Repository,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
        db_index=False,  # task_repo_created_cover_idx leads with it
    )
    robot = models.ForeignKey(
        Robot,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
        db_index=False,  # task_robot_cover_idx leads with it
    )
    group = models.ForeignKey(
        TaskGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # The list's default order within a workspace, live rows only, covering
            # what its default conditions read (a deep page's ids come from it alone).
            models.Index(
                fields=["workspace", "-updated_at", "-id"],
                include=["archived", "status", "workflow_status"],
                condition=Q(deleted=False),
                name="task_ws_recent_cover_idx",
            ),
            # A workspace's tasks of some workflow statuses, covering the stats' reads.
            models.Index(
                fields=["workspace", "workflow_status"],
                include=["archived", "status", "awaiting_input"],
                condition=Q(deleted=False),
                name="task_ws_state_idx",
            ),
            models.Index(
                fields=["workspace", "created_at"],
                condition=Q(deleted=False),
                name="task_ws_created_idx",
            ),
            # The foreign key's index (every row, for SET NULL), covering a
            # repository's list count, stats and volume.
            models.Index(
                fields=["repository", "created_at"],
                include=["workspace", *COUNTED_COLUMNS],
                name="task_repo_created_cover_idx",
            ),
            # The foreign key's index (every row, for CASCADE), covering a count of a
            # source or event type.
            models.Index(
                fields=["workspace", "source_type", "event_type"],
                include=COUNTED_COLUMNS,
                name="task_ws_source_event_idx",
            ),
            # The foreign key's index (every row, for SET NULL), covering a robot's list
            # count and stats.
            models.Index(
                fields=["robot"],
                include=["workspace", *COUNTED_COLUMNS],
                name="task_robot_cover_idx",
            ),
            models.Index(
                fields=["group", "-updated_at"],
                condition=Q(deleted=False),
                name="task_group_recent_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class TaskCount(models.Model):
    """How many tasks of a workspace share one value of every column a count filters on
    (tasks.counters keeps it in the same transaction as each change of those columns).
    Stats, the sidebar and the list's `totalCount` sum these rows instead of counting
    tasks; the columns carry the task's names so that the list's own conditions apply."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    # The other columns in one string: a unique key without NULLs (workflow_status may be
    # NULL, and NULLs never conflict), the target of INSERT ... ON CONFLICT.
    key = models.CharField(max_length=48)
    deleted = models.BooleanField()
    archived = models.BooleanField()
    status = models.CharField(max_length=16, choices=TaskStatus.choices)
    workflow_status = models.CharField(
        max_length=16, choices=WorkflowStatus.choices, null=True, blank=True
    )
    awaiting_input = models.BooleanField()
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.MEDIUM)
    # A count is spread over a few rows (tasks.counters.SLOTS), summed by every read: a
    # writer adds to its thread's row, so concurrent writers (the workers' runs) seldom
    # wait on each other's row locks.
    slot = models.PositiveSmallIntegerField(default=0)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "key", "slot"], name="taskcount_unique_key_slot"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.n}"


class TaskDayCount(models.Model):
    """Live (not deleted) tasks of a workspace created on one UTC day: the volume chart
    reads a year as 365 rows. Kept by tasks.counters with TaskCount."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "day"], name="taskdaycount_unique_day")
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.n}"
