"""A WebSocket's private subscription follows its member's access: removed, lowered
below access or with the token revoked, the socket gets a `pusher:error` for the channel
within a few seconds and no further events of it."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership
from realtime.events import task_channel
from realtime.models import ChannelGrant
from tests.factories import TaskFactory
from tests.realtime.test_consumers import connect, post

pytestmark = pytest.mark.django_db(transaction=True)


def authorize(raw_token: str, socket_id: str, channel: str) -> str:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    response = client.post(
        "/api/realtime/auth", {"socket_id": socket_id, "channel_name": channel}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["auth"]


@pytest.mark.parametrize("how", ["removed", "revoked", "kept"])
def test_a_subscription_ends_with_access(people, workspace, settings, how):
    settings.STREAM_ACCESS_CHECK_SECONDS = 0.3
    task = TaskFactory(workspace=workspace)
    channel = task_channel(task.id)
    viewer = people["viewer"]
    token, raw = ApiToken.issue(viewer, "ws")

    def lose_access():
        if how == "removed":
            Membership.objects.filter(user=viewer, workspace=workspace).delete()
        elif how == "revoked":
            token.revoke()

    async def publish(n):
        event = {"name": "new-message", "channel": channel, "data": json.dumps(str(n))}
        assert (await post(event))["status"] == 200

    async def scenario():
        socket, socket_id = await connect()
        auth = await sync_to_async(authorize)(raw, socket_id, channel)
        await socket.send_json_to(
            {"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth}}
        )
        assert (await socket.receive_json_from())["event"] == (
            "pusher_internal:subscription_succeeded"
        )
        await publish(1)
        assert (await socket.receive_json_from(2))["event"] == "new-message"
        await sync_to_async(lose_access)()
        frames = []
        if how != "kept":
            frames.append(await socket.receive_json_from(3))
        else:
            assert await socket.receive_nothing(1.0)
        await publish(2)
        if how == "kept":
            frames.append(await socket.receive_json_from(2))
        else:
            assert await socket.receive_nothing(0.5)
        await socket.disconnect()
        return frames

    frames = asyncio.run(scenario())
    if how == "kept":
        assert frames[0]["event"] == "new-message"
    else:
        assert frames[0]["event"] == "pusher:error" and frames[0]["channel"] == channel
        assert frames[0]["data"]["code"] == 4009
    assert not ChannelGrant.objects.exists()  # forgotten with the socket
