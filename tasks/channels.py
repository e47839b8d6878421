"""Who may listen to the task and workspace channels (registered with realtime)."""

import uuid

from accounts.access import Caller, role_in, workspace_roles
from accounts.models import Workspace
from tasks.models import Task


def may_listen_to_task(user: Caller, task_id: str) -> bool:
    try:
        pk = uuid.UUID(task_id)
    except ValueError:
        return False
    workspace_id = (
        Task.objects.filter(pk=pk, deleted=False).values_list("workspace_id", flat=True).first()
    )
    return workspace_id is not None and role_in(user, workspace_id) is not None


def may_listen_to_workspace(user: Caller, slug: str) -> bool:
    roles = workspace_roles(user)
    if not roles:
        return False
    return Workspace.objects.filter(slug=slug, id__in=roles.keys()).exists()
