"""The JSON of tasks (the mobile seed's task object plus the console's fields), groups,
repositories and robots; and the bodies that create or change them."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from accounts.serializers import UserRefSerializer
from chat.models import Attachment
from chat.serializers import MessageSerializer
from config.representation import FastOutput
from tasks.models import (
    Feature,
    Mode,
    Priority,
    Repository,
    Robot,
    RunnerKind,
    Task,
    TaskGroup,
    TaskLog,
    TaskRun,
    TaskStatus,
    WorkflowStatus,
)
from tasks.secrets import mask_secrets
from tasks.selectors import is_waiting_for_input

# WorkflowStatus -> the web console's lowercase `state`.
STATES = {
    WorkflowStatus.PENDING: "queued",
    WorkflowStatus.IN_PROGRESS: "processing",
    WorkflowStatus.COMPLETED: "succeeded",
    WorkflowStatus.FAILED: "failed",
    WorkflowStatus.ERROR: "failed",
    WorkflowStatus.HALTED: "halted",
}


def state_of(task: Task) -> str | None:
    if is_waiting_for_input(task):
        return "waiting_approval"
    return STATES.get(task.workflow_status) if task.workflow_status else None  # type: ignore[call-overload]


class FeatureRefSerializer(FastOutput, serializers.ModelSerializer[Feature]):
    class Meta:
        model = Feature
        fields = ["id", "title"]


class AssigneeSerializer(FastOutput, serializers.ModelSerializer[User]):
    """The mobile seed's `assignee`: `{id, name, email, image}`."""

    name = serializers.CharField(source="display_name")
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


class ChatCountSerializer(FastOutput, serializers.Serializer[Task]):
    chatMessages = serializers.IntegerField(source="message_count")


class AttachmentRefSerializer(FastOutput, serializers.ModelSerializer[Attachment]):
    class Meta:
        model = Attachment
        fields = ["id", "filename", "mime_type", "size", "path"]


class LatestMessageSerializer(MessageSerializer):
    """A chat message as the API's Message shape, its attachments without the download
    url (chat's GETs carry it)."""

    attachments = AttachmentRefSerializer(many=True, read_only=True)  # type: ignore[assignment]


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
            "workflow_started_at",
            "workflow_completed_at",
        ]

    def __init__(self, *args: Any, include_latest_message: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if include_latest_message:
            self.fields["latest_message"] = LatestMessageSerializer(read_only=True, allow_null=True)

    def get_state(self, task: Task) -> str | None:
        return state_of(task)

    def get_waiting_for_input(self, task: Task) -> bool:
        return is_waiting_for_input(task)


class TaskGroupRefSerializer(FastOutput, serializers.ModelSerializer[TaskGroup]):
    class Meta:
        model = TaskGroup
        fields = ["id", "kind", "binding_key", "title"]


class TaskRunSerializer(FastOutput, serializers.ModelSerializer[TaskRun]):
    class Meta:
        model = TaskRun
        fields = [
            "id",
            "number",
            "status",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "exit_code",
            "error",
        ]


class TaskLogSerializer(FastOutput, serializers.ModelSerializer[TaskLog]):
    run_number = serializers.IntegerField(source="run.number", read_only=True)

    class Meta:
        model = TaskLog
        fields = ["seq", "run_number", "stream", "line", "created_at"]


class PermissionsSerializer(serializers.Serializer[dict[str, bool]]):
    can_retry = serializers.BooleanField()
    can_delete = serializers.BooleanField()
    can_halt = serializers.BooleanField()


class TaskDetailSerializer(TaskRowSerializer):
    """The row plus what only the detail carries; `logs` only when logs are enabled."""

    output_text = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    group = TaskGroupRefSerializer(read_only=True, allow_null=True)
    permissions = serializers.SerializerMethodField()
    runs = TaskRunSerializer(many=True, read_only=True)

    class Meta(TaskRowSerializer.Meta):
        fields = [
            *TaskRowSerializer.Meta.fields,
            "prompt",
            "output_text",
            "error",
            "group",
            "permissions",
            "runs",
        ]

    def __init__(self, *args: Any, logs: list[TaskLog] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._logs = logs
        if logs is not None:
            self.fields["logs"] = serializers.SerializerMethodField()

    def get_output_text(self, task: Task) -> str | None:
        return mask_secrets(task.output_text)

    def get_error(self, task: Task) -> str | None:
        return mask_secrets(task.error)

    @extend_schema_field(PermissionsSerializer)
    def get_permissions(self, task: Task) -> dict[str, bool]:
        return self.context.get("permissions", {})

    @extend_schema_field(TaskLogSerializer(many=True))
    def get_logs(self, task: Task) -> list[dict[str, Any]]:
        return TaskLogSerializer(self._logs or [], many=True).data  # type: ignore[return-value]


class TaskChangedSerializer(FastOutput, serializers.ModelSerializer[Task]):
    """The mobile seed's PATCH answer: `{id, title, status, workflowStatus, archived,
    updatedAt, ...}`."""

    workspace_id = serializers.UUIDField(read_only=True)
    state = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = [
            "id",
            "title",
            "description",
            "status",
            "workflow_status",
            "state",
            "priority",
            "archived",
            "archived_at",
            "workspace_id",
            "updated_at",
        ]

    def get_state(self, task: Task) -> str | None:
        return state_of(task)


class TaskCreateSerializer(serializers.Serializer[Task]):
    workspace_id = serializers.UUIDField()
    title = serializers.CharField(max_length=500)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    repository_id = serializers.UUIDField(required=False, allow_null=True)
    robot_id = serializers.UUIDField(required=False, allow_null=True)
    feature_id = serializers.UUIDField(required=False, allow_null=True)
    assignee_id = serializers.UUIDField(required=False, allow_null=True)
    mode = serializers.ChoiceField(choices=Mode.choices, required=False)
    branch = serializers.CharField(max_length=300, required=False, allow_blank=True)
    run = serializers.BooleanField(required=False, default=False)


class TaskUpdateSerializer(serializers.Serializer[Task]):
    title = serializers.CharField(max_length=500, required=False)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
    workflow_status = serializers.ChoiceField(
        choices=WorkflowStatus.choices, required=False, allow_null=True
    )
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    archived = serializers.BooleanField(required=False)
    assignee_id = serializers.UUIDField(required=False, allow_null=True)
    feature_id = serializers.UUIDField(required=False, allow_null=True)


# -- groups -------------------------------------------------------------------------------


class LatestTaskSerializer(FastOutput, serializers.ModelSerializer[Task]):
    state = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = ["id", "title", "workflow_status", "state", "updated_at"]

    def get_state(self, task: Task) -> str | None:
        return state_of(task)


class TaskGroupSerializer(FastOutput, serializers.ModelSerializer[TaskGroup]):
    repository = RepositoryRefSerializer(read_only=True, allow_null=True)
    robot = RobotRefSerializer(read_only=True, allow_null=True)
    task_count = serializers.IntegerField(read_only=True)
    latest_task = LatestTaskSerializer(read_only=True, allow_null=True)
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


class RepositorySerializer(FastOutput, serializers.ModelSerializer[Repository]):
    workspace_id = serializers.UUIDField()

    class Meta:
        model = Repository
        fields = [
            "id",
            "workspace_id",
            "name",
            "repository_url",
            "default_branch",
            "archived",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]


class RepositoryUpdateSerializer(FastOutput, serializers.ModelSerializer[Repository]):
    class Meta:
        model = Repository
        fields = ["name", "repository_url", "default_branch", "archived"]
        extra_kwargs = {field: {"required": False} for field in fields}


class RobotSerializer(FastOutput, serializers.ModelSerializer[Robot]):
    workspace_id = serializers.UUIDField()
    repository_id = serializers.UUIDField(required=False, allow_null=True)
    runner = serializers.ChoiceField(choices=RunnerKind.choices, default=RunnerKind.SCRIPTED)
    config = serializers.JSONField(required=False, default=dict)

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

    def validate_config(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value


class RobotUpdateSerializer(FastOutput, serializers.ModelSerializer[Robot]):
    repository_id = serializers.UUIDField(required=False, allow_null=True)
    runner = serializers.ChoiceField(choices=RunnerKind.choices, required=False)
    config = serializers.JSONField(required=False)

    class Meta:
        model = Robot
        fields = ["name", "repository_id", "runner", "config", "enabled"]
        extra_kwargs = {"name": {"required": False}, "enabled": {"required": False}}

    def validate_config(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value
