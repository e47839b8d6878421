"""Integration endpoints: the inbound GitHub/GitLab webhooks (the signature is the
credential), a repository's delivery log with replay, and the workspace's outbound
webhook endpoints with their delivery logs."""

import hashlib
from typing import Any
from uuid import UUID

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import caller, require_role
from accounts.models import Role, Workspace
from accounts.serializers import ScopeQuerySerializer
from config import metrics
from config.envelope import enveloped, no_content, success
from config.exceptions import ApiError, PayloadTooLarge
from config.pagination import PAGE_PARAMETERS
from config.parsers import loads
from integrations import inbound, outbound, selectors, services
from integrations.models import InboundDelivery, Outcome, Source, WebhookEndpoint
from integrations.serializers import (
    InboundDeliverySerializer,
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateSerializer,
)
from integrations.signatures import github_signature_ok, gitlab_token_ok
from tasks.selectors import repository_for
from tasks.views import ResourceViewSet


class InvalidSignature(ApiError):
    status_code = status.HTTP_401_UNAUTHORIZED
    code = "INVALID_SIGNATURE"
    default_detail = "The webhook signature (or token) is missing or wrong."


class MalformedPayload(ApiError):
    code = "MALFORMED_PAYLOAD"
    default_detail = "The body is not a JSON object."


HEADERS: dict[str, tuple[str, str]] = {
    Source.GITHUB: ("HTTP_X_GITHUB_EVENT", "HTTP_X_GITHUB_DELIVERY"),
    Source.GITLAB: ("HTTP_X_GITLAB_EVENT", "HTTP_X_GITLAB_EVENT_UUID"),
}


def _read_body(request: Request) -> bytes:
    """The raw body, refused (413) past WEBHOOK_MAX_BODY_BYTES without reading it all."""
    cap = settings.WEBHOOK_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(message=f"A webhook body is at most {cap} bytes.")
    body: bytes = request._request.read(cap + 1)
    if len(body) > cap:
        raise PayloadTooLarge(message=f"A webhook body is at most {cap} bytes.")
    return body


def _signed(source: str, secret: str, body: bytes, meta: Any) -> bool:
    if source == Source.GITHUB:
        return github_signature_ok(secret, body, meta.get("HTTP_X_HUB_SIGNATURE_256", ""))
    return gitlab_token_ok(secret, meta.get("HTTP_X_GITLAB_TOKEN", ""))


DeliveryAnswer: Any = enveloped("InboundDeliveryAnswer", InboundDeliverySerializer())
WEBHOOK_HEADERS = [
    OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False)
    for name in (
        "X-GitHub-Event",
        "X-GitHub-Delivery",
        "X-Hub-Signature-256",
        "X-Gitlab-Event",
        "X-Gitlab-Event-UUID",
        "X-Gitlab-Token",
    )
]


class RepositoryWebhookViewSet(viewsets.ViewSet):
    """POST /api/webhooks/{github,gitlab}/{repoId}: no session or token; GitHub's
    HMAC signature or GitLab's token with the repository's webhook secret."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    parser_classes: list[Any] = []

    @extend_schema(
        operation_id="webhooks_github",
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=WEBHOOK_HEADERS,
        responses={200: DeliveryAnswer, 202: DeliveryAnswer},
        auth=[],
    )
    def github(self, request: Request, repo_id: UUID) -> Response:
        return self.receive(request, repo_id, Source.GITHUB)

    @extend_schema(
        operation_id="webhooks_gitlab",
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=WEBHOOK_HEADERS,
        responses={200: DeliveryAnswer, 202: DeliveryAnswer},
        auth=[],
    )
    def gitlab(self, request: Request, repo_id: UUID) -> Response:
        return self.receive(request, repo_id, Source.GITLAB)

    def receive(self, request: Request, repo_id: UUID, source: str) -> Response:
        body = _read_body(request)
        repository = selectors.repository_for_webhook(repo_id)
        if not _signed(source, repository.webhook_secret, body, request.META):
            metrics.webhook_deliveries.labels("inbound", "invalid_signature").inc()
            raise InvalidSignature()
        try:
            payload = loads(body)  # strict: no NaN, no nesting past JSON_MAX_DEPTH
        except ParseError:
            raise MalformedPayload() from None
        if not isinstance(payload, dict):
            raise MalformedPayload()
        event_header, id_header = HEADERS[source]
        delivery_id = request.META.get(id_header, "").strip()
        if not delivery_id and source == Source.GITLAB:
            # Older GitLab sends no delivery id: the body's digest stands in for it.
            delivery_id = "sha256:" + hashlib.sha256(body).hexdigest()
        if not delivery_id:
            raise ApiError("MISSING_DELIVERY_ID", "X-GitHub-Delivery is required.")
        received = inbound.receive(
            repository,
            source=source,
            event=request.META.get(event_header, "").strip(),
            delivery_id=delivery_id,
            payload=payload,
        )
        outcome = received.delivery.outcome if received.first else "redelivered"
        metrics.webhook_deliveries.labels("inbound", outcome).inc()
        ignored = received.first and received.delivery.outcome == Outcome.IGNORED
        code = status.HTTP_202_ACCEPTED if ignored else status.HTTP_200_OK
        return success(InboundDeliverySerializer(received.delivery).data, status=code)


class RepositoryDeliveryViewSet(ResourceViewSet):
    """/api/repos/{id}/deliveries: the inbound delivery log (any member reads); replay
    for ADMIN and OWNER."""

    queryset = InboundDelivery.objects.none()  # the model, for the schema
    lookup_url_kwarg = "repo_id"
    default_limit = 50

    def page_order(self) -> list[str]:
        return ["-received_at", "-id"]

    @extend_schema(
        operation_id="repos_deliveries",
        parameters=PAGE_PARAMETERS,
        responses=enveloped(
            "InboundDeliveryList", InboundDeliverySerializer(many=True), paged=True
        ),
    )
    @action(detail=True)
    def deliveries(self, request: Request, repo_id: UUID) -> Response:
        repository = repository_for(caller(request), repo_id)
        rows = self.rows(selectors.inbound_deliveries(repository))
        return self.get_paginated_response(InboundDeliverySerializer(rows, many=True).data)

    @extend_schema(
        operation_id="repos_deliveries_replay",
        request=None,
        responses={201: enveloped("InboundDeliveryReplayed", InboundDeliverySerializer())},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="deliveries/<uuid:delivery_id>/replay",
        url_name="delivery-replay",
    )
    def replay(self, request: Request, repo_id: UUID, delivery_id: UUID) -> Response:
        repository = repository_for(caller(request), repo_id, Role.ADMIN)
        again = inbound.replay(selectors.inbound_delivery(repository, delivery_id))
        return success(InboundDeliverySerializer(again).data, status=201)


class WebhookEndpointViewSet(ResourceViewSet):
    """/api/webhook-endpoints: the workspace's outbound webhooks, ADMIN and OWNER only."""

    queryset = WebhookEndpoint.objects.none()  # the model, for the schema
    lookup_url_kwarg = "endpoint_id"

    def page_order(self) -> list[str]:
        return ["created_at", "id"] if self.action == "list" else ["-created_at", "-id"]

    @extend_schema(
        operation_id="webhook_endpoints_list",
        parameters=[ScopeQuerySerializer],
        responses=enveloped(
            "WebhookEndpointList", WebhookEndpointSerializer(many=True), paged=True
        ),
    )
    def list(self, request: Request) -> Response:
        scope = self.scope()
        if len(scope) == 1 and (
            request.query_params.get("workspaceId") or request.query_params.get("workspace")
        ):
            require_role(request.user, scope[0], Role.ADMIN)
        rows = self.rows(selectors.managed_endpoints(caller(request), scope))
        return self.get_paginated_response(WebhookEndpointSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="webhook_endpoints_create",
        request=WebhookEndpointSerializer,
        responses={
            201: enveloped("WebhookEndpointCreatedResponse", WebhookEndpointCreatedSerializer())
        },
    )
    def create(self, request: Request) -> Response:
        body = WebhookEndpointSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        workspace_id = fields.pop("workspace_id")
        require_role(request.user, workspace_id, Role.ADMIN)
        endpoint = services.create_endpoint(
            actor=caller(request), workspace=Workspace.objects.get(pk=workspace_id), **fields
        )
        return success(WebhookEndpointCreatedSerializer(endpoint).data, status=201)

    @extend_schema(
        operation_id="webhook_endpoints_get",
        responses=enveloped("WebhookEndpointDetail", WebhookEndpointSerializer()),
    )
    def retrieve(self, request: Request, endpoint_id: UUID) -> Response:
        endpoint = selectors.endpoint_for(caller(request), endpoint_id)
        return success(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        request=WebhookEndpointUpdateSerializer,
        responses=enveloped("WebhookEndpointUpdated", WebhookEndpointSerializer()),
    )
    def partial_update(self, request: Request, endpoint_id: UUID) -> Response:
        endpoint = selectors.endpoint_for(caller(request), endpoint_id)
        body = WebhookEndpointUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        services.update_endpoint(endpoint, dict(body.validated_data))
        return success(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(operation_id="webhook_endpoints_delete", responses={204: None})
    def destroy(self, request: Request, endpoint_id: UUID) -> Response:
        selectors.endpoint_for(caller(request), endpoint_id).delete()
        return no_content()

    @extend_schema(
        operation_id="webhook_endpoints_deliveries",
        parameters=PAGE_PARAMETERS,
        responses=enveloped(
            "WebhookDeliveryList", WebhookDeliverySerializer(many=True), paged=True
        ),
    )
    @action(detail=True)
    def deliveries(self, request: Request, endpoint_id: UUID) -> Response:
        endpoint = selectors.endpoint_for(caller(request), endpoint_id)
        rows = self.rows(selectors.endpoint_deliveries(endpoint))
        return self.get_paginated_response(WebhookDeliverySerializer(rows, many=True).data)

    @extend_schema(
        operation_id="webhook_endpoints_send_test",
        request=None,
        responses={201: enveloped("WebhookTestDelivery", WebhookDeliverySerializer())},
    )
    @action(detail=True, methods=["post"], url_path="test")
    def send_test(self, request: Request, endpoint_id: UUID) -> Response:
        endpoint = selectors.endpoint_for(caller(request), endpoint_id)
        delivery = outbound.send_test(endpoint)
        return success(WebhookDeliverySerializer(delivery).data, status=201)

    @extend_schema(
        operation_id="webhook_endpoints_send_again",
        request=None,
        responses={201: enveloped("WebhookDeliveryAgain", WebhookDeliverySerializer())},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="deliveries/<uuid:delivery_id>/send-again",
        url_name="delivery-send-again",
    )
    def send_again(self, request: Request, endpoint_id: UUID, delivery_id: UUID) -> Response:
        endpoint = selectors.endpoint_for(caller(request), endpoint_id)
        again = outbound.send_again(selectors.endpoint_delivery(endpoint, delivery_id))
        return success(WebhookDeliverySerializer(again).data, status=201)
