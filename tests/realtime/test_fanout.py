"""The per-process hub (realtime.fanout) outlives a failing channel layer."""

import asyncio

from channels.layers import get_channel_layer

from realtime import fanout


def test_the_hub_keeps_delivering_after_the_layer_fails_to_read(monkeypatch):
    layer = get_channel_layer()
    receive = layer.receive
    failures = []

    async def flaky_receive(channel):
        if not failures:
            failures.append(channel)
            raise ConnectionError("the layer restarted")
        return await receive(channel)

    monkeypatch.setattr(layer, "receive", flaky_receive)
    monkeypatch.setattr(fanout, "LAYER_RETRY_SECONDS", 0.01)

    async def scenario():
        got = asyncio.Queue()

        async def take(message):
            await got.put(message)

        await fanout.hub().join("tests.flaky", "member", take)
        await get_channel_layer().group_send("tests.flaky", {"group": "tests.flaky", "n": 1})
        message = await asyncio.wait_for(got.get(), 5)
        assert message["n"] == 1 and failures
        await fanout.hub().leave("tests.flaky", "member")

    asyncio.run(scenario())
