"""Writes to the workspace's outbound webhook endpoints."""

from typing import Any

from django.db import transaction

from accounts.models import User, Workspace
from integrations.models import WebhookEndpoint


def create_endpoint(*, actor: User, workspace: Workspace, **fields: Any) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(workspace=workspace, created_by=actor, **fields)


@transaction.atomic
def update_endpoint(endpoint: WebhookEndpoint, changes: dict[str, Any]) -> WebhookEndpoint:
    """Turning an endpoint back on clears why it was turned off."""
    for field, value in changes.items():
        setattr(endpoint, field, value)
    if changes.get("enabled"):
        endpoint.failing_since = None
        endpoint.disabled_reason = ""
    endpoint.save()
    return endpoint
