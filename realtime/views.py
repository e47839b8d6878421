from django.conf import settings
from djangorestframework_camel_case.parser import CamelCaseFormParser
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.envelope import success
from config.parsers import JSONParser
from realtime import grants, protocol, selectors
from realtime.authorization import may_listen
from realtime.serializers import (
    ChannelAuthRequestSerializer,
    ChannelAuthSerializer,
    EventQuerySerializer,
    OutboxEventSerializer,
)


class ChannelAuthView(APIView):
    """Pusher channel auth: signs `socket_id:channel_name` for workspace members.

    The answer is Pusher's bare `{auth}` (what the SDKs read), not the envelope;
    errors use the envelope. pusher-js posts a form; JSON is taken too."""

    parser_classes = [JSONParser, CamelCaseFormParser]

    @extend_schema(
        operation_id="realtime_auth",
        request=ChannelAuthRequestSerializer,
        responses=ChannelAuthSerializer,
    )
    def post(self, request: Request) -> Response:
        body = ChannelAuthRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        channel = body.validated_data["channel_name"]
        if not may_listen(request.user, channel):
            raise NotFound()  # as every row a caller may not see (docs/API.md)
        socket_id = body.validated_data["socket_id"]
        grants.record(socket_id, channel, request.user, request.auth)
        return Response({"auth": protocol.channel_auth(socket_id, channel)})


class EventListView(APIView):
    """The outbox replay: a channel's events after a seq, for clients catching up; 410
    REPLAY_WINDOW_EXCEEDED when retention deleted events after that seq (reload)."""

    @extend_schema(
        operation_id="events_list",
        parameters=[EventQuerySerializer],
        responses=inline_serializer(
            name="EventList",
            fields={
                "success": serializers.BooleanField(),
                "data": OutboxEventSerializer(many=True),
                "pagination": inline_serializer(
                    name="EventPagination",
                    fields={
                        "limit": serializers.IntegerField(),
                        "hasMore": serializers.BooleanField(),
                        "nextAfter": serializers.IntegerField(allow_null=True),
                        "oldestSeq": serializers.IntegerField(
                            help_text="The oldest seq the replay still has (0: none yet); "
                            "`after` below oldestSeq - 1 is 410 REPLAY_WINDOW_EXCEEDED."
                        ),
                        "retentionDays": serializers.IntegerField(
                            help_text="How long delivered events are kept (0: forever)."
                        ),
                    },
                ),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        query = EventQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        channel = query.validated_data["channel"]
        if not may_listen(request.user, channel):
            raise NotFound()
        rows, has_more, oldest = selectors.events_after(
            channel, query.validated_data["after"], query.validated_data["limit"]
        )
        pagination = {
            "limit": query.validated_data["limit"],
            "hasMore": has_more,
            "nextAfter": rows[-1].seq if has_more else None,
            "oldestSeq": oldest,
            "retentionDays": settings.RETENTION_OUTBOX_DAYS,
        }
        return success(OutboxEventSerializer(rows, many=True).data, pagination=pagination)
