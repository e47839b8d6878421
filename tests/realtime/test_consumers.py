"""Protocol details of the built-in Pusher server, with Channels' communicators."""

import asyncio
import hashlib
import json
import time
from urllib.parse import urlencode

from channels.layers import get_channel_layer
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.conf import settings

from config.asgi import application
from realtime import fanout, protocol


def run(coro):
    return asyncio.run(coro)


async def connect(key: str | None = None) -> tuple[WebsocketCommunicator, str]:
    socket = WebsocketCommunicator(
        application, f"/app/{key or settings.PUSHER_KEY}?protocol=7&client=js&version=8.4.0"
    )
    connected, _ = await socket.connect()
    assert connected
    hello = await socket.receive_json_from()
    assert hello["event"] == "pusher:connection_established"
    assert isinstance(hello["data"], str)  # a JSON string, as pusher-js expects
    data = json.loads(hello["data"])
    assert protocol.SOCKET_ID.match(data["socket_id"])
    assert data["activity_timeout"] == protocol.ACTIVITY_TIMEOUT
    return socket, data["socket_id"]


def signed_publish_path(
    body: bytes, *, secret: str | None = None, kind: str = "events", age: int = 0
) -> str:
    path = f"/apps/{settings.PUSHER_APP_ID}/{kind}"
    params = {
        "auth_key": settings.PUSHER_KEY,
        "auth_timestamp": str(int(time.time()) - age),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body).hexdigest(),
    }
    query = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    params["auth_signature"] = protocol.sign(
        secret or settings.PUSHER_SECRET, f"POST\n{path}\n{query}"
    )
    return f"{path}?{urlencode(params)}"


async def post(body: dict, **kwargs) -> dict:
    raw = json.dumps(body).encode()
    path, _, query = signed_publish_path(raw, **kwargs).partition("?")
    http = HttpCommunicator(application, "POST", f"{path}?{query}", body=raw)
    return await http.get_response()


def test_connection_established_then_ping_pong():
    async def scenario():
        socket, _ = await connect()
        await socket.send_json_to({"event": "pusher:ping", "data": {}})
        assert await socket.receive_json_from() == {"event": "pusher:pong", "data": "{}"}
        await socket.disconnect()

    run(scenario())


def test_an_unknown_app_key_is_accepted_then_closed_with_4001():
    async def scenario():
        socket = WebsocketCommunicator(application, "/app/not-our-key?protocol=7")
        connected, _ = await socket.connect()
        assert connected
        error = await socket.receive_json_from()
        assert error["event"] == "pusher:error"
        assert error["data"]["code"] == 4001
        assert await socket.receive_output() == {"type": "websocket.close", "code": 4001}

    run(scenario())


def test_an_old_protocol_version_is_closed_with_4007():
    async def scenario():
        socket = WebsocketCommunicator(application, f"/app/{settings.PUSHER_KEY}?protocol=4")
        connected, _ = await socket.connect()
        assert connected
        error = await socket.receive_json_from()
        assert error["data"]["code"] == 4007
        assert await socket.receive_output() == {"type": "websocket.close", "code": 4007}

    run(scenario())


def test_a_private_channel_needs_a_valid_signature():
    async def scenario():
        socket, socket_id = await connect()
        channel = "private-task-1"
        forged = (
            f"{settings.PUSHER_KEY}:{protocol.sign('not-the-secret', f'{socket_id}:{channel}')}"
        )
        await socket.send_json_to(
            {"event": "pusher:subscribe", "data": {"channel": channel, "auth": forged}}
        )
        error = await socket.receive_json_from()
        assert error["event"] == "pusher:error"
        assert error["data"]["code"] == protocol.UNAUTHORIZED

        # A signature for another socket is refused too.
        other = protocol.channel_auth("1.1", channel)
        await socket.send_json_to(
            {"event": "pusher:subscribe", "data": {"channel": channel, "auth": other}}
        )
        assert (await socket.receive_json_from())["data"]["code"] == protocol.UNAUTHORIZED

        good = protocol.channel_auth(socket_id, channel)
        await socket.send_json_to(
            {"event": "pusher:subscribe", "data": {"channel": channel, "auth": good}}
        )
        assert await socket.receive_json_from() == {
            "event": "pusher_internal:subscription_succeeded",
            "data": "{}",
            "channel": channel,
        }
        await socket.disconnect()

    run(scenario())


def test_published_events_reach_subscribers_except_the_excluded_socket():
    async def scenario():
        first, first_id = await connect()
        second, _ = await connect()
        for socket in (first, second):
            await socket.send_json_to(
                {"event": "pusher:subscribe", "data": {"channel": "public-room"}}
            )
            assert (await socket.receive_json_from())["event"] == (
                "pusher_internal:subscription_succeeded"
            )
        response = await post(
            {
                "name": "new-message",
                "channels": ["public-room"],
                "data": '"m1"',
                "socket_id": first_id,
            }
        )
        assert response["status"] == 200, response["body"]
        assert await second.receive_json_from() == {
            "event": "new-message",
            "data": '"m1"',
            "channel": "public-room",
        }
        assert await first.receive_nothing(timeout=0.2)

        await second.send_json_to(
            {"event": "pusher:unsubscribe", "data": {"channel": "public-room"}}
        )
        await second.send_json_to({"event": "pusher:ping"})
        assert (await second.receive_json_from())["event"] == "pusher:pong"
        response = await post(
            {"batch": [{"channel": "public-room", "name": "after", "data": "{}"}]},
            kind="batch_events",
        )
        assert response["status"] == 200
        assert await second.receive_nothing(timeout=0.2)
        assert (await first.receive_json_from())["event"] == "after"
        await first.disconnect()
        await second.disconnect()

    run(scenario())


def test_client_events_and_garbage_get_a_pusher_error_without_closing():
    async def scenario():
        socket, _ = await connect()
        await socket.send_to(text_data="not json")
        assert (await socket.receive_json_from())["event"] == "pusher:error"
        await socket.send_json_to({"event": "client-typing", "channel": "x", "data": {}})
        assert (await socket.receive_json_from())["event"] == "pusher:error"
        await socket.send_json_to({"event": "pusher:subscribe", "data": {"channel": "bad name!"}})
        assert (await socket.receive_json_from())["event"] == "pusher:error"
        await socket.send_json_to({"event": "pusher:ping"})
        assert (await socket.receive_json_from())["event"] == "pusher:pong"
        await socket.disconnect()

    run(scenario())


def test_publish_with_a_wrong_secret_is_refused():
    response = run(post({"name": "e", "channels": ["c"], "data": "{}"}, secret="forged"))
    assert response["status"] == 401
    assert json.loads(response["body"]) == {"error": "Invalid signature"}


def test_publish_with_a_stale_timestamp_or_wrong_body_md5_is_refused():
    async def scenario():
        raw = json.dumps({"name": "e", "channels": ["c"], "data": "{}"}).encode()
        path, _, query = signed_publish_path(raw).partition("?")
        tampered = HttpCommunicator(
            application, "POST", f"{path}?{query}", body=raw.replace(b"{}", b"[]")
        )
        assert (await tampered.get_response())["status"] == 401

        old = HttpCommunicator(application, "POST", signed_publish_path(raw, age=700), body=raw)
        assert (await old.get_response())["status"] == 401

    run(scenario())


def test_publish_over_10_kb_or_to_another_app_is_refused():
    response = run(post({"name": "e", "channels": ["c"], "data": "x" * 10241}))
    assert response["status"] == 413

    async def other_app():
        http = HttpCommunicator(application, "POST", "/apps/999/events", body=b"{}")
        return await http.get_response()

    assert run(other_app())["status"] == 404


def test_a_process_joins_a_channel_group_once_whatever_its_number_of_sockets(monkeypatch):
    """The hub (realtime.fanout) is the layer's one member for the process: one layer
    message per event, handed to each local socket; the last socket out leaves."""
    group = protocol.group_name("public-crowd")
    layer = get_channel_layer()
    calls: list[tuple[str, str]] = []
    for name in ("group_add", "group_discard"):
        original = getattr(layer, name)

        async def counted(group_name, channel, name=name, original=original):
            calls.append((name, group_name))
            await original(group_name, channel)

        monkeypatch.setattr(layer, name, counted)

    async def scenario():
        sockets = [(await connect())[0] for _ in range(3)]
        for socket in sockets:
            await socket.send_json_to(
                {"event": "pusher:subscribe", "data": {"channel": "public-crowd"}}
            )
            await socket.receive_json_from()
        assert calls == [("group_add", group)]
        response = await post({"name": "hello", "channels": ["public-crowd"], "data": "{}"})
        assert response["status"] == 200
        for socket in sockets:
            assert (await socket.receive_json_from())["event"] == "hello"
        for socket in sockets:  # once: not again when the layer's copy comes back
            assert await socket.receive_nothing(timeout=0.1)
            await socket.disconnect()
        assert calls == [("group_add", group), ("group_discard", group)]

    run(scenario())


def test_a_socket_is_told_to_reconnect_when_its_process_may_have_lost_events():
    """The hub's `hub.resync` (the layer failed): the socket closes with 4200, which
    pusher-js answers by reconnecting at once, subscribing again and catching up."""

    async def scenario():
        socket, _ = await connect()
        await socket.send_json_to({"event": "pusher:subscribe", "data": {"channel": "public-r"}})
        await socket.receive_json_from()
        group = protocol.group_name("public-r")
        await fanout.hub().deliver({"type": fanout.RESYNC, "group": group})
        assert await socket.receive_output() == {"type": "websocket.close", "code": 4200}
        await socket.disconnect()
        assert group not in fanout.hub().members  # left with its socket

    run(scenario())


def test_a_subscription_while_the_layer_is_down_closes_the_socket_for_a_later_retry(
    monkeypatch,
):
    layer = get_channel_layer()

    async def failing_group_add(group, channel):
        raise ConnectionError("the layer is down")

    async def scenario():
        socket, _ = await connect()
        monkeypatch.setattr(layer, "group_add", failing_group_add)
        await socket.send_json_to({"event": "pusher:subscribe", "data": {"channel": "public-d"}})
        assert await socket.receive_output() == {"type": "websocket.close", "code": 4100}
        monkeypatch.undo()
        await socket.disconnect()
        assert protocol.group_name("public-d") not in fanout.hub().members

    run(scenario())
