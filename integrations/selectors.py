"""Reads of the integration resources, scoped by the access policy."""

from collections.abc import Sequence
from uuid import UUID

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound

from accounts.access import require_role, workspace_roles
from accounts.models import Role, User
from integrations.models import InboundDelivery, WebhookDelivery, WebhookEndpoint
from tasks.models import Repository


def repository_for_webhook(repository_id: UUID) -> Repository:
    """The repository a delivery names (no caller: the signature is the credential)."""
    repository = Repository.objects.select_related("workspace").filter(pk=repository_id).first()
    if repository is None:
        raise NotFound()
    return repository


def inbound_deliveries(repository: Repository) -> QuerySet[InboundDelivery]:
    return InboundDelivery.objects.filter(repository=repository).prefetch_related("tasks")


def inbound_delivery(repository: Repository, delivery_id: UUID) -> InboundDelivery:
    delivery = (
        InboundDelivery.objects.select_related("repository__workspace")
        .filter(repository=repository, pk=delivery_id)
        .first()
    )
    if delivery is None:
        raise NotFound()
    return delivery


def managed_endpoints(user: User, scope: Sequence[UUID]) -> QuerySet[WebhookEndpoint]:
    """The endpoints of the workspaces in scope where the caller is ADMIN or OWNER."""
    roles = workspace_roles(user)
    managed = [w for w in scope if Role.rank(roles.get(w, Role.VIEWER)) >= Role.rank(Role.ADMIN)]
    return WebhookEndpoint.objects.filter(workspace_id__in=managed)


def endpoint_for(user: User, endpoint_id: UUID) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_related("workspace").filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound()
    require_role(user, endpoint.workspace_id, Role.ADMIN)
    return endpoint


def endpoint_deliveries(endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint=endpoint)


def endpoint_delivery(endpoint: WebhookEndpoint, delivery_id: UUID) -> WebhookDelivery:
    delivery = (
        WebhookDelivery.objects.select_related("endpoint__workspace")
        .filter(endpoint=endpoint, pk=delivery_id)
        .first()
    )
    if delivery is None:
        raise NotFound()
    return delivery
