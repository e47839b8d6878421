"""The web console's pages: server-rendered shells over the REST API.

Each page checks access the way the API does (a workspace's members only; an outsider
gets 404, never a hint that the row exists), renders what it knows at once (navigation,
a task's summary, the actions its `permissions` allow, the filter form), and hands the
page's JavaScript (dashboard/static/console/) the ids, the realtime config and each
channel's last seq, from which it catches up after a dropped connection. Everything else
goes through the same REST endpoints as any other client, with the Django session.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any, cast
from uuid import UUID

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from rest_framework.exceptions import NotFound, PermissionDenied

from accounts.access import has_role, workspace_for
from accounts.models import Role, User, Workspace
from accounts.selectors import workspaces_of
from realtime.client_config import client_config
from realtime.events import task_channel, workspace_channel
from realtime.selectors import last_seqs
from tasks.models import Priority, SourceType
from tasks.queueing import QueueReason
from tasks.selectors import (
    group_for,
    task_for,
    visible_groups,
    visible_repositories,
    visible_robots,
    waiting_for_input_count,
)
from tasks.serializers import task_detail_data

Page = Callable[..., HttpResponse]

# The list's status filter speaks the web console's lowercase states (API aliases).
STATUS_FILTERS = [
    ("queued", "queued"),
    ("processing", "processing"),
    ("waiting_approval", "waiting for input"),
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("halted", "halted"),
]
# (GET /api/tasks/stats key, label, the status filter a click on the tile applies)
TILES = [
    ("total", "All", ""),
    ("queued", "Queued", "queued"),
    ("processing", "Processing", "processing"),
    ("waitingForInput", "Waiting for input", "waiting_approval"),
    ("completed", "Succeeded", "succeeded"),
    ("failed", "Failed", "failed"),
    ("halted", "Halted", "halted"),
]


class SignInView(auth_views.LoginView):
    template_name = "console/sign_in.html"
    redirect_authenticated_user = True


def signed_in(request: HttpRequest) -> User:
    """The user of a console page (console_page lets only signed-in users through)."""
    return cast(User, request.user)


def console_page(view: Page) -> Page:
    """Signed-in only; the API's 404 (outsider, unknown or malformed id) and 403 (a role
    too weak) become the console's own pages with the same status."""

    @login_required
    @wraps(view)
    def page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound:
            return render(request, "console/not_found.html", status=404)
        except PermissionDenied as denied:
            return render(request, "console/forbidden.html", {"reason": denied}, status=403)

    return page


def home(request: HttpRequest) -> HttpResponse:
    """`/`: the first workspace's tasks, or the sign-in page for a visitor."""
    if not request.user.is_authenticated:
        return redirect(f"{_login_path()}?next=/")
    first = workspaces_of(signed_in(request)).first()
    if first is None:
        return render(request, "console/no_workspace.html", _shell(request, None))
    return redirect("console-tasks", slug=first.slug)


@console_page
def tasks_page(request: HttpRequest, slug: str) -> HttpResponse:
    workspace = workspace_for(request.user, slug)
    ids = [workspace.id]
    context = _shell(request, workspace, channels=[workspace_channel(slug)])
    context.update(
        repositories=visible_repositories(ids).order_by("name"),
        robots=visible_robots(ids).order_by("name"),
        groups=visible_groups(ids).order_by("-updated_at")[:200],
        statuses=STATUS_FILTERS,
        tiles=TILES,
        nav="tasks",
        priorities=Priority.values,
        sources=SourceType.values,
        query=request.GET,
    )
    return render(request, "console/tasks.html", context)


@console_page
def task_page(request: HttpRequest, task_id: str) -> HttpResponse:
    task = task_for(signed_in(request), _uuid(task_id))
    detail = task_detail_data(task, signed_in(request))
    runs = detail.get("runs") or []
    context = _shell(
        request,
        task.workspace,
        channels=[task_channel(task.id), workspace_channel(task.workspace.slug)],
    )
    context.update(
        task=task,
        permissions=detail["permissions"],
        run=runs[0] if runs else None,  # newest first
        runs=[run_row(run) for run in runs],
        queue_reason=QueueReason(task.queue_reason).label if task.queue_reason else None,  # type: ignore[attr-defined]
        can_write=has_role(request.user, task.workspace_id, Role.DEVELOPER),
        can_archive=has_role(request.user, task.workspace_id, Role.DEVELOPER),
        logs_enabled=task.workspace.task_logs_enabled,
    )
    context["page"]["taskId"] = str(task.id)
    context["page"]["channels"]["task"] = task_channel(task.id)
    context["nav"] = "tasks"
    return render(request, "console/task.html", context)


@console_page
def groups_page(request: HttpRequest, slug: str) -> HttpResponse:
    workspace = workspace_for(request.user, slug)
    context = _shell(request, workspace, channels=[workspace_channel(slug)])
    context["nav"] = "groups"
    return render(request, "console/groups.html", context)


@console_page
def group_page(request: HttpRequest, group_id: str) -> HttpResponse:
    group = group_for(signed_in(request), _uuid(group_id))
    workspace = Workspace.objects.get(pk=group.workspace_id)
    context = _shell(request, workspace, channels=[workspace_channel(workspace.slug)])
    context["group"] = group
    context["nav"] = "groups"
    context["page"]["groupId"] = str(group.id)
    return render(request, "console/group.html", context)


@console_page
def settings_page(request: HttpRequest, slug: str) -> HttpResponse:
    workspace = workspace_for(request.user, slug, Role.ADMIN)
    context = _shell(request, workspace)
    context["roles"] = Role.values
    context["runners"] = ["scripted", "command", "openai"]
    context["nav"] = "settings"
    return render(request, "console/settings.html", context)


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    """A run of the detail as the task page's table shows it (as its script does)."""

    def stamp(iso: str | None) -> str:
        return iso.replace("T", " ")[:19] if iso else "—"

    who = run["requested_by"]
    return {
        "number": run["number"],
        "trigger": run["trigger"] + (f" by {who['name'] or 'someone'}" if who else ""),
        "status": run["status"].lower(),
        "worker": run["worker"] or "—",
        "queued": stamp(run["created_at"]),
        "started": stamp(run["started_at"]),
        "finished": stamp(run["finished_at"]),
        "exit_code": "—" if run["exit_code"] is None else run["exit_code"],
    }


def _uuid(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound() from None


def _login_path() -> str:
    return reverse("console-login")


def _shell(
    request: HttpRequest, workspace: Workspace | None, channels: list[str] | None = None
) -> dict[str, Any]:
    """What every page's frame shows: the workspace switcher, the user, the
    waiting-for-input count, and what the page's script needs to go live."""
    user = request.user
    workspaces = list(workspaces_of(user))  # type: ignore[arg-type]
    # workspaces_of() annotates each row with the caller's `role`.
    role = next(
        (getattr(w, "role", None) for w in workspaces if workspace and w.id == workspace.id),
        None,
    )
    channels = channels or []
    page: dict[str, Any] = {
        "workspace": workspace.slug if workspace else None,
        "workspaceId": str(workspace.id) if workspace else None,
        "role": role,
        "userId": str(user.pk),
        "realtime": _camel(client_config()),
        "lastSeqs": last_seqs(channels),
        "channels": {"workspace": workspace_channel(workspace.slug) if workspace else None},
        "logsEnabled": bool(workspace and workspace.task_logs_enabled),
    }
    return {
        "workspace": workspace,
        "workspaces": workspaces,
        "role": role,
        "is_admin": bool(role and Role.rank(role) >= Role.rank(Role.ADMIN)),
        "waiting_count": waiting_for_input_count(workspace) if workspace else 0,
        "page": page,
    }


def _camel(config: dict[str, Any]) -> dict[str, Any]:
    """client_config()'s keys as GET /api/auth/me spells them."""
    return {
        "".join(p if i == 0 else p.title() for i, p in enumerate(k.split("_"))): v
        for k, v in config.items()
    }
