from config.exceptions import Gone
from realtime.models import OutboxChannel, OutboxEvent


def oldest_seq(channel: str) -> int | None:
    """The oldest event the channel still keeps (retention deletes delivered ones)."""
    return (
        OutboxEvent.objects.filter(channel=channel)
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )


def events_after(channel: str, after: int, limit: int) -> tuple[list[OutboxEvent], bool, int]:
    """The channel's committed events with seq > after, oldest first, whether more follow,
    and the oldest seq kept; 410 when events after `after` were deleted already (the
    client missed them: it reloads instead of replaying)."""
    oldest = oldest_seq(channel)
    if oldest is None:
        last = OutboxChannel.objects.filter(name=channel).values_list("last_seq", flat=True)
        missed = after < (last.first() or 0)
    else:
        missed = after + 1 < oldest
    if missed:
        raise Gone(
            "REPLAY_WINDOW_EXCEEDED",
            f"Events after {after} are past the replay window (oldest kept: "
            f"{oldest if oldest is not None else 'none'}); reload the channel's state.",
        )
    rows = list(
        OutboxEvent.objects.filter(channel=channel, seq__gt=after).order_by("seq")[: limit + 1]
    )
    return rows[:limit], len(rows) > limit, oldest or 0


def last_seqs(channels: list[str]) -> dict[str, int]:
    """Each channel's last committed seq (0 before any): where a console page that just
    rendered starts its catch-up (GET /api/events?after=) after a dropped connection."""
    from_counter = dict(
        OutboxChannel.objects.filter(name__in=channels).values_list("name", "last_seq")
    )
    return {channel: from_counter.get(channel, 0) for channel in channels}
