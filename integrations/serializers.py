"""The integration resources' output, and the input that becomes typed values."""

from typing import Any

from rest_framework import serializers

from config.fields import BooleanField, StrictInput, TextField, URLField
from config.representation import FastOutput
from integrations.models import InboundDelivery, OutboundEvent, WebhookDelivery, WebhookEndpoint


class InboundDeliverySerializer(FastOutput, serializers.ModelSerializer[InboundDelivery]):
    repository_id = serializers.UUIDField(read_only=True)
    group_id = serializers.UUIDField(read_only=True, allow_null=True)
    task_ids = serializers.SerializerMethodField()
    replay_of_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = InboundDelivery
        fields = [
            "id",
            "repository_id",
            "source",
            "event",
            "action",
            "delivery_id",
            "received_at",
            "signature_ok",
            "outcome",
            "detail",
            "group_id",
            "task_ids",
            "replay_of_id",
        ]

    def get_task_ids(self, delivery: InboundDelivery) -> list[str]:
        return [str(task.pk) for task in delivery.tasks.all()]


class WebhookEndpointSerializer(
    StrictInput, FastOutput, serializers.ModelSerializer[WebhookEndpoint]
):
    workspace_id = serializers.UUIDField()
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=OutboundEvent.choices), min_length=1
    )
    enabled = BooleanField(required=False)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "workspace_id",
            "url",
            "events",
            "enabled",
            "description",
            "failing_since",
            "disabled_reason",
            "created_at",
        ]
        read_only_fields = ["id", "failing_since", "disabled_reason", "created_at"]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    """The answer of POST: with the signing secret, shown only now."""

    secret = serializers.CharField(read_only=True)

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookEndpointUpdateSerializer(serializers.Serializer[Any]):
    url = URLField(max_length=1000, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=OutboundEvent.choices),
        min_length=1,
        required=False,
    )
    enabled = BooleanField(required=False)
    description = TextField(max_length=300, required=False, allow_blank=True)


class WebhookDeliverySerializer(FastOutput, serializers.ModelSerializer[WebhookDelivery]):
    endpoint_id = serializers.UUIDField(read_only=True)
    request = serializers.SerializerMethodField()

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint_id",
            "event",
            "message_id",
            "request",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "response_status",
            "response_body",
            "duration_ms",
            "error",
            "created_at",
        ]

    def get_request(self, delivery: WebhookDelivery) -> dict[str, Any]:
        """What was (or will be) posted: the JSON body; the signature is made per attempt."""
        body: dict[str, Any] = delivery.payload
        return body
