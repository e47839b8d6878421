from rest_framework import serializers

from realtime.models import OutboxEvent
from realtime.protocol import CHANNEL_NAME, SOCKET_ID


class ChannelAuthRequestSerializer(serializers.Serializer):
    """Pusher's channel-auth form, as pusher-js and the mobile SDKs post it."""

    # Regex fields, so that the schema states the patterns.
    socket_id = serializers.RegexField(
        SOCKET_ID,
        trim_whitespace=False,
        error_messages={"invalid": "A socket id looks like 123.456."},
    )
    channel_name = serializers.RegexField(
        CHANNEL_NAME, max_length=200, error_messages={"invalid": "Not a valid channel name."}
    )


class ChannelAuthSerializer(serializers.Serializer):
    auth = serializers.CharField(help_text="`key:signature` for pusher:subscribe.")


class EventQuerySerializer(serializers.Serializer):
    channel = serializers.CharField(max_length=200)
    after = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)


class OutboxEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutboxEvent
        fields = ["channel", "seq", "event", "data", "created_at", "sent_at"]
