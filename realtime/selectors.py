from realtime.models import OutboxEvent


def events_after(channel: str, after: int, limit: int) -> tuple[list[OutboxEvent], bool]:
    """The channel's committed events with seq > after, oldest first, and whether more follow."""
    rows = list(
        OutboxEvent.objects.filter(channel=channel, seq__gt=after).order_by("seq")[: limit + 1]
    )
    return rows[:limit], len(rows) > limit
