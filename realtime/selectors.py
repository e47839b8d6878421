from realtime.models import OutboxChannel, OutboxEvent


def events_after(channel: str, after: int, limit: int) -> tuple[list[OutboxEvent], bool]:
    """The channel's committed events with seq > after, oldest first, and whether more follow."""
    rows = list(
        OutboxEvent.objects.filter(channel=channel, seq__gt=after).order_by("seq")[: limit + 1]
    )
    return rows[:limit], len(rows) > limit


def last_seqs(channels: list[str]) -> dict[str, int]:
    """Each channel's last committed seq (0 before any): where a console page that just
    rendered starts its catch-up (GET /api/events?after=) after a dropped connection."""
    from_counter = dict(
        OutboxChannel.objects.filter(name__in=channels).values_list("name", "last_seq")
    )
    return {channel: from_counter.get(channel, 0) for channel in channels}
