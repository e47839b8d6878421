"""The event outbox: every event a client will see, written in the change's transaction.

`OutboxChannel` holds each channel's last sequence number (so `seq` is gap-free per
channel even with concurrent writers: the counter row is locked by the writer's
UPDATE until its transaction ends), the dispatch lease (so one dispatcher at a
time sends a channel's events, in seq order), and `sent_seq`: the last_seq a dispatcher
gave the lease back at, with nothing left unsent. While `sent_seq` equals `last_seq`
the channel holds no unsent event, so the statement that numbers new events may lease
it for their own transaction's batch (realtime.events, PostgreSQL).
"""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class OutboxChannel(models.Model):
    name = models.CharField(max_length=200, primary_key=True)
    last_seq = models.PositiveBigIntegerField(default=0)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_seq = models.PositiveBigIntegerField(default=0, db_default=0)

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_seq}"


class OutboxEvent(models.Model):
    channel = models.CharField(max_length=200)
    event = models.CharField(max_length=200)
    # UUIDs, datetimes (ISO 8601, `Z`) and decimals are stored as the wire carries them.
    data = models.JSONField(encoder=DjangoJSONEncoder)
    seq = models.PositiveBigIntegerField(help_text="Gap-free per channel, in commit order.")
    exclude_socket_id = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "seq"], name="outbox_channel_seq_uniq")
        ]
        indexes = [
            # The dispatcher's scan: unsent events, per channel, in seq order.
            models.Index(
                fields=["channel", "seq"],
                name="outbox_unsent_idx",
                condition=models.Q(sent_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel}#{self.seq} {self.event}"


class ChannelGrant(models.Model):
    """Who a private channel's auth was signed for (POST /api/realtime/auth): the socket
    re-reads it (realtime.grants) so that a subscription ends with its member's access."""

    socket_id = models.CharField(max_length=40)
    channel = models.CharField(max_length=200)
    user_id = models.CharField(max_length=64)
    token_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["socket_id", "channel"], name="grant_socket_channel_idx")]

    def __str__(self) -> str:
        return f"{self.channel} for {self.user_id} ({self.socket_id})"
