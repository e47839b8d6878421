from rest_framework import serializers

from realtime.models import OutboxEvent
from realtime.protocol import CHANNEL_NAME, SOCKET_ID


class ChannelAuthRequestSerializer(serializers.Serializer):
    """Pusher's channel-auth form, as pusher-js and the mobile SDKs post it."""

    socket_id = serializers.CharField(trim_whitespace=False)
    channel_name = serializers.CharField(max_length=200)

    def validate_socket_id(self, value: str) -> str:
        if not SOCKET_ID.match(value):
            raise serializers.ValidationError("A socket id looks like 123.456.")
        return value

    def validate_channel_name(self, value: str) -> str:
        if not CHANNEL_NAME.match(value):
            raise serializers.ValidationError("Not a valid channel name.")
        return value


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
