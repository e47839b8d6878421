"""The JSON of tasks (the mobile clients' task object plus the console's fields), groups,
repositories and robots; and the bodies that create or change them."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from accounts.access import has_role
from accounts.models import USER_NAME_COLUMNS, Role, User, display_name
from accounts.serializers import UserRefSerializer
from config.fields import (
    BooleanField,
    EnumField,
    IdField,
    ObjectField,
    StrictInput,
    StringOnly,
    TextField,
)
from config.representation import FastOutput, datetimes, uuid_text
from tasks import sections as row_sections
from tasks import workflow
from tasks.models import (
    Feature,
    Mode,
    Priority,
    Repository,
    Robot,
    RunnerKind,
    Task,
    TaskGroup,
    TaskStatus,
    WorkflowStatus,
)
from tasks.profiles import public_config
from tasks.queueing import QueueReason
from tasks.redaction import redact


class FeatureRefSerializer(FastOutput, serializers.ModelSerializer[Feature]):
    class Meta:
        model = Feature
        fields = ["id", "title"]


class AssigneeSerializer(FastOutput, serializers.ModelSerializer[User]):
    """The mobile clients' `assignee`: `{id, name, email, image}`."""

    name = TextField(source="display_name")
    image = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "name", "email", "image"]

    def get_image(self, user: User) -> str | None:
        return user.image or None


class RepositoryRefSerializer(FastOutput, serializers.ModelSerializer[Repository]):
    class Meta:
        model = Repository
        fields = ["id", "name", "repository_url"]


class RobotRefSerializer(FastOutput, serializers.ModelSerializer[Robot]):
    class Meta:
        model = Robot
        fields = ["id", "name"]


def _user_name(relation: str) -> tuple[str, ...]:
    """The columns of a related user that its `name` (User.display_name) is made of."""
    return tuple(f"{relation}__{column}" for column in USER_NAME_COLUMNS)


def _name_of(row: Mapping[str, Any], relation: str) -> str:
    return display_name(*(row[f"{relation}__{column}"] for column in USER_NAME_COLUMNS))


class ChatCountSerializer(FastOutput, serializers.Serializer[Task]):
    chatMessages = serializers.IntegerField(source="message_count")


class TaskRowSerializer(FastOutput, serializers.ModelSerializer[Task]):
    """One list row. Never output text, prompts or logs."""

    feature = FeatureRefSerializer(read_only=True, allow_null=True)
    assignee = AssigneeSerializer(read_only=True, allow_null=True)
    repository = RepositoryRefSerializer(read_only=True, allow_null=True)
    created_by = UserRefSerializer(read_only=True, allow_null=True)
    _count = ChatCountSerializer(source="*", read_only=True)
    workspace_id = serializers.UUIDField(read_only=True)
    state = serializers.SerializerMethodField()
    group_id = serializers.UUIDField(read_only=True, allow_null=True)
    robot = RobotRefSerializer(read_only=True, allow_null=True)
    waiting_for_input = serializers.SerializerMethodField()
    queue_reason = serializers.ChoiceField(
        choices=QueueReason.choices,
        read_only=True,
        allow_null=True,
        help_text="Why the task waits for its run (PENDING, or running with its next turn "
        "queued); null otherwise.",
    )
    queue_blocked_by = serializers.UUIDField(
        read_only=True,
        allow_null=True,
        help_text="With group_busy: the task of the group whose run is going on.",
    )

    class Meta:
        model = Task
        fields = [
            "id",
            "title",
            "description",
            "status",
            "priority",
            "workflow_status",
            "source_type",
            "mode",
            "pod_id",
            "created_at",
            "updated_at",
            "feature",
            "assignee",
            "repository",
            "created_by",
            "_count",
            "workspace_id",
            "state",
            "event_type",
            "group_id",
            "robot",
            "branch",
            "archived",
            "retries",
            "waiting_for_input",
            "queue_reason",
            "queue_blocked_by",
            "workflow_started_at",
            "workflow_completed_at",
        ]

    def __init__(self, *args: Any, sections: Sequence[str] = (), **kwargs: Any):
        """`sections`: the row sections asked for (tasks.sections.ROW_SECTIONS), e.g.
        `latest_message`; the caller has loaded them (`load_sections`)."""
        super().__init__(*args, **kwargs)
        for name in sections:
            self.fields[name] = row_sections.ROW_SECTIONS[name].output()

    def get_state(self, task: Task) -> str | None:
        return workflow.state_of(task)

    def get_waiting_for_input(self, task: Task) -> bool:
        return workflow.is_waiting_for_input(task)

    # What `from_values` reads: a values() row of tasks.selectors.task_row_values.
    VALUES = (
        *("id", "title", "description", "status", "priority", "workflow_status"),
        *("source_type", "mode", "pod_id", "created_at", "updated_at", "message_count"),
        *("workspace_id", "awaiting_input", "event_type", "group_id", "branch", "archived"),
        *("retries", "queue_reason", "queue_blocked_by"),
        *("workflow_started_at", "workflow_completed_at"),
        *("feature_id", "feature__title"),
        *("assignee_id", "assignee__email", "assignee__image", *_user_name("assignee")),
        *("repository_id", "repository__name", "repository__repository_url"),
        *("created_by_id", "created_by__image", *_user_name("created_by")),
        *("robot_id", "robot__name"),
    )

    @staticmethod
    def from_values(
        rows: Iterable[Mapping[str, Any]], sections: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """What `TaskRowSerializer(tasks, many=True, sections=sections).data` writes, from
        values() rows (VALUES) instead of model instances; each section's key holds its
        output already (tasks.sections.load_values)."""
        when, text = datetimes(), uuid_text
        state_for, waits = workflow.state_for, workflow.waits_for_input
        return [
            {
                "id": text(r["id"]),
                "title": r["title"],
                "description": r["description"],
                "status": r["status"],
                "priority": r["priority"],
                "workflow_status": r["workflow_status"],
                "source_type": r["source_type"],
                "mode": r["mode"],
                "pod_id": r["pod_id"],
                "created_at": when(r["created_at"]),
                "updated_at": when(r["updated_at"]),
                "feature": None
                if r["feature_id"] is None
                else {"id": text(r["feature_id"]), "title": r["feature__title"]},
                "assignee": None
                if r["assignee_id"] is None
                else {
                    "id": text(r["assignee_id"]),
                    "name": _name_of(r, "assignee"),
                    "email": r["assignee__email"],
                    "image": r["assignee__image"] or None,
                },
                "repository": None
                if r["repository_id"] is None
                else {
                    "id": text(r["repository_id"]),
                    "name": r["repository__name"],
                    "repository_url": r["repository__repository_url"],
                },
                "created_by": None
                if r["created_by_id"] is None
                else {
                    "id": text(r["created_by_id"]),
                    "name": _name_of(r, "created_by"),
                    "image": r["created_by__image"] or None,
                },
                "_count": {"chatMessages": r["message_count"]},
                "workspace_id": text(r["workspace_id"]),
                "state": state_for(r["workflow_status"], r["awaiting_input"]),
                "event_type": r["event_type"],
                "group_id": text(r["group_id"]),
                "robot": None
                if r["robot_id"] is None
                else {"id": text(r["robot_id"]), "name": r["robot__name"]},
                "branch": r["branch"],
                "archived": r["archived"],
                "retries": r["retries"],
                "waiting_for_input": waits(r["workflow_status"], r["awaiting_input"]),
                "queue_reason": r["queue_reason"],
                "queue_blocked_by": text(r["queue_blocked_by"]),
                "workflow_started_at": when(r["workflow_started_at"]),
                "workflow_completed_at": when(r["workflow_completed_at"]),
                **{name: r[name] for name in sections},
            }
            for r in rows
        ]


class TaskGroupRefSerializer(FastOutput, serializers.ModelSerializer[TaskGroup]):
    class Meta:
        model = TaskGroup
        fields = ["id", "kind", "binding_key", "title"]


class PermissionsSerializer(serializers.Serializer[dict[str, bool]]):
    can_retry = serializers.BooleanField()
    can_delete = serializers.BooleanField()
    can_halt = serializers.BooleanField()


class TaskDetailSerializer(TaskRowSerializer):
    """The row plus what only the detail carries, and the detail sections of the apps
    above tasks (tasks.sections: runs adds `runs` and, when logs are on, `logs`)."""

    output_text = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    group = TaskGroupRefSerializer(read_only=True, allow_null=True)
    permissions = serializers.SerializerMethodField()

    class Meta(TaskRowSerializer.Meta):
        fields = [
            *TaskRowSerializer.Meta.fields,
            "archived_at",
            "prompt",
            "output_text",
            "error",
            "group",
            "permissions",
        ]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for name, section in row_sections.DETAIL_SECTIONS.items():
            self.fields[name] = section.output()

    def get_output_text(self, task: Task) -> str | None:
        return redact(task.output_text)

    def get_error(self, task: Task) -> str | None:
        return redact(task.error)

    @extend_schema_field(PermissionsSerializer)
    def get_permissions(self, task: Task) -> dict[str, bool]:
        return self.context.get("permissions", {})


class TaskRefSerializer(FastOutput, serializers.ModelSerializer[Task]):
    """A task where something else is the subject: a group's latest task, the task of a
    chat page."""

    workspace_id = serializers.UUIDField(read_only=True)
    state = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = [
            "id",
            "title",
            "workspace_id",
            "workflow_status",
            "state",
            "mode",
            "pod_id",
            "updated_at",
        ]

    def get_state(self, task: Task) -> str | None:
        return workflow.state_of(task)


class TaskCreateSerializer(serializers.Serializer[Task]):
    workspace_id = serializers.UUIDField()
    title = TextField(max_length=500)
    description = TextField(required=False, allow_blank=True, allow_null=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    repository_id = serializers.UUIDField(required=False, allow_null=True)
    robot_id = serializers.UUIDField(required=False, allow_null=True)
    feature_id = serializers.UUIDField(required=False, allow_null=True)
    assignee_id = serializers.UUIDField(required=False, allow_null=True)
    mode = serializers.ChoiceField(choices=Mode.choices, required=False)
    branch = TextField(max_length=300, required=False, allow_blank=True)
    run = BooleanField(required=False, default=False)


class TaskUpdateSerializer(serializers.Serializer[Task]):
    title = TextField(max_length=500, required=False)
    description = TextField(required=False, allow_blank=True, allow_null=True)
    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
    workflow_status = EnumField(
        choices=WorkflowStatus.choices,
        aliases=workflow.CONSOLE_INPUT,
        required=False,
        allow_null=True,
    )
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    archived = BooleanField(required=False)
    assignee_id = serializers.UUIDField(required=False, allow_null=True)
    feature_id = serializers.UUIDField(required=False, allow_null=True)


# -- groups -------------------------------------------------------------------------------


class TaskGroupSerializer(FastOutput, serializers.ModelSerializer[TaskGroup]):
    repository = RepositoryRefSerializer(read_only=True, allow_null=True)
    robot = RobotRefSerializer(read_only=True, allow_null=True)
    task_count = serializers.IntegerField(read_only=True)
    latest_task = TaskRefSerializer(read_only=True, allow_null=True)
    workspace_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = TaskGroup
        fields = [
            "id",
            "workspace_id",
            "kind",
            "binding_key",
            "title",
            "repository",
            "robot",
            "archived",
            "task_count",
            "latest_task",
            "created_at",
            "updated_at",
        ]


# -- repositories and robots ----------------------------------------------------------------


class RepositorySerializer(StrictInput, FastOutput, serializers.ModelSerializer[Repository]):
    workspace_id = serializers.UUIDField()
    webhook_secret = StringOnly(
        write_only=True,
        required=False,
        min_length=16,
        max_length=200,
        help_text="Verifies inbound webhooks; never returned. Absent: one is generated "
        "and shown once, in this answer.",
    )
    archived = BooleanField(required=False)
    webhook_url = serializers.SerializerMethodField(
        help_text="The URL to paste into GitHub or GitLab (by the repository URL's host)."
    )
    webhook_urls = serializers.SerializerMethodField()

    class Meta:
        model = Repository
        fields = [
            "id",
            "workspace_id",
            "name",
            "repository_url",
            "default_branch",
            "archived",
            "webhook_secret",
            "webhook_url",
            "webhook_urls",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    def get_webhook_url(self, repo: Repository) -> str:
        return repo.webhook_url(repo.webhook_provider)

    @extend_schema_field(
        inline_serializer(
            name="RepositoryWebhookUrls",
            fields={"github": serializers.URLField(), "gitlab": serializers.URLField()},
        )
    )
    def get_webhook_urls(self, repo: Repository) -> dict[str, str]:
        return {provider: repo.webhook_url(provider) for provider in ("github", "gitlab")}


class RepositoryCreatedSerializer(RepositorySerializer):
    """The answer of POST /api/repos: with the generated secret, this once."""

    generated_webhook_secret = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The generated webhook secret, shown only now (null when one was given).",
    )

    class Meta(RepositorySerializer.Meta):
        fields = [*RepositorySerializer.Meta.fields, "generated_webhook_secret"]


class RepositoryUpdateSerializer(StrictInput, FastOutput, serializers.ModelSerializer[Repository]):
    webhook_secret = StringOnly(write_only=True, required=False, min_length=16, max_length=200)
    archived = BooleanField(required=False)

    class Meta:
        model = Repository
        fields = ["name", "repository_url", "default_branch", "archived", "webhook_secret"]
        extra_kwargs = {field: {"required": False} for field in fields}


class RobotConfigField(ObjectField):
    """In: the robot's config. Out: only to ADMIN+ of the robot's workspace (the view puts
    their workspace ids in the context as `config_workspaces`), without its secrets
    (tasks.profiles.public_config); null to everyone else."""

    def get_attribute(self, instance: Any) -> Any:
        shown = self.context.get("config_workspaces", set())
        return public_config(instance.config) if instance.workspace_id in shown else None


class RobotSerializer(StrictInput, FastOutput, serializers.ModelSerializer[Robot]):
    workspace_id = serializers.UUIDField()
    repository_id = serializers.UUIDField(required=False, allow_null=True)
    runner = serializers.ChoiceField(choices=RunnerKind.choices, default=RunnerKind.SCRIPTED)
    enabled = BooleanField(required=False)
    config = RobotConfigField(
        required=False,
        default=dict,
        allow_null=True,
        help_text="`command`/`openai`: {profile, ...its declared variables}. Returned to "
        "ADMIN+ only (null for others), secrets masked.",
    )

    class Meta:
        model = Robot
        fields = [
            "id",
            "workspace_id",
            "repository_id",
            "name",
            "runner",
            "config",
            "enabled",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    def validate_config(self, value: dict[str, Any] | None) -> dict[str, Any]:
        return {} if value is None else value  # null (as non-admins read it): no config


class RobotUpdateSerializer(StrictInput, FastOutput, serializers.ModelSerializer[Robot]):
    repository_id = serializers.UUIDField(required=False, allow_null=True)
    runner = serializers.ChoiceField(choices=RunnerKind.choices, required=False)
    config = ObjectField(required=False)
    enabled = BooleanField(required=False)

    class Meta:
        model = Robot
        fields = ["name", "repository_id", "runner", "config", "enabled"]
        extra_kwargs = {"name": {"required": False}, "enabled": {"required": False}}


# -- query parameters ---------------------------------------------------------------------

MAX_VOLUME_DAYS = 1100
DEFAULT_VOLUME_DAYS = 30


FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9999, 12, 30)


def in_range(day: date) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise serializers.ValidationError(f"A day from {FIRST_DAY} to {LAST_DAY}.")
    return day


class VolumeQuerySerializer(serializers.Serializer[dict[str, Any]]):
    """GET /api/tasks/volume: `repoId` or `workspaceId`, and the days (UTC, inclusive)."""

    repoId = IdField(required=False)
    workspaceId = IdField(required=False)
    startDay = serializers.DateField(
        required=False, input_formats=["%Y-%m-%d"], help_text="YYYY-MM-DD, UTC, inclusive."
    )
    endDay = serializers.DateField(
        required=False, input_formats=["%Y-%m-%d"], help_text="YYYY-MM-DD, UTC, inclusive."
    )

    def validate_startDay(self, day: date) -> date:
        return in_range(day)

    def validate_endDay(self, day: date) -> date:
        return in_range(day)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if not data.get("repoId") and not data.get("workspaceId"):
            raise serializers.ValidationError({"repoId": ["Give repoId or workspaceId."]})
        end = data.get("endDay") or datetime.now(UTC).date()
        start = data.get("startDay") or end - timedelta(days=DEFAULT_VOLUME_DAYS - 1)
        if start > end:
            raise serializers.ValidationError({"startDay": ["startDay must not be after endDay."]})
        if (end - start).days + 1 > MAX_VOLUME_DAYS:
            raise serializers.ValidationError(
                {"endDay": [f"At most {MAX_VOLUME_DAYS} days at once."]}
            )
        return {**data, "startDay": start, "endDay": end}


class RetryQuerySerializer(serializers.Serializer[dict[str, Any]]):
    force = serializers.BooleanField(
        default=False, help_text="Retry a task whose run is stale (no heartbeat)."
    )


def task_detail_data(task: Task, user: User) -> dict[str, Any]:
    """GET /api/tasks/{id} (and the answer of retry and halt): the detail, with its
    sections loaded and what the caller may do with the task."""
    sections_of_apps = row_sections.DETAIL_SECTIONS
    row_sections.load(sections_of_apps, list(sections_of_apps), [task])
    developer = has_role(user, task.workspace_id, Role.DEVELOPER)
    active = task.workflow_status in workflow.ACTIVE
    permissions = {
        "canRetry": developer and not task.archived and not active,
        "canDelete": has_role(user, task.workspace_id, Role.ADMIN),
        "canHalt": developer and active,
    }
    data: dict[str, Any] = TaskDetailSerializer(task, context={"permissions": permissions}).data
    return data
