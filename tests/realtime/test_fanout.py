"""The per-process hub (realtime.fanout) outlives a failing channel layer."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from realtime import fanout


def test_the_hub_rejoins_its_groups_and_tells_members_to_resync_after_the_layer_fails(
    monkeypatch,
):
    layer = get_channel_layer()
    receive = layer.receive
    failures: list[str] = []
    fail_next = []

    async def flaky_receive(channel):
        if fail_next:
            fail_next.clear()
            failures.append(channel)
            # A restarted Redis has forgotten the groups, and the read fails.
            await layer.group_discard("tests.flaky", channel)
            raise ConnectionError("the layer restarted")
        return await receive(channel)

    monkeypatch.setattr(layer, "receive", flaky_receive)
    monkeypatch.setattr(fanout, "LAYER_RETRY_SECONDS", 0.01)

    async def scenario():
        got: asyncio.Queue = asyncio.Queue()

        async def take(message):
            await got.put(message)

        await fanout.hub().join("tests.flaky", "member", take)
        fail_next.append(True)  # the read after the next message fails
        await layer.group_send("tests.flaky", {"group": "tests.flaky", "n": 0})
        assert (await asyncio.wait_for(got.get(), 5))["n"] == 0
        resync = await asyncio.wait_for(got.get(), 5)
        assert resync == {"type": fanout.RESYNC, "group": "tests.flaky"} and failures
        await layer.group_send("tests.flaky", {"group": "tests.flaky", "n": 1})
        assert (await asyncio.wait_for(got.get(), 5))["n"] == 1  # joined again
        await fanout.hub().leave("tests.flaky", "member")

    asyncio.run(scenario())


def test_a_group_send_that_fails_in_the_layer_reaches_no_local_member(monkeypatch):
    """The publisher retries a refused publish: had the local members got it first, they
    would get it twice."""
    layer = get_channel_layer()

    async def failing_group_send(group, message):
        raise ConnectionError("the layer is down")

    async def scenario():
        got: list[dict] = []

        async def take(message):
            got.append(message)

        await fanout.hub().join("tests.down", "member", take)
        monkeypatch.setattr(layer, "group_send", failing_group_send)
        with pytest.raises(ConnectionError):  # the publisher is told, and retries
            await fanout.send_to_group("tests.down", {"n": 1})
        monkeypatch.undo()
        assert got == []
        await fanout.hub().leave("tests.down", "member")

    asyncio.run(scenario())
