"""The console's pages in-process (Django's test client): who gets which page, and what
a page renders before any script runs (actions by permissions, the filter form)."""

from typing import Any

import pytest
from django.test import Client

from tests.factories import TaskFactory, TaskGroupFactory
from tests.personas import PERSONAS

pytestmark = pytest.mark.django_db

READ_PAGE = {"owner": 200, "admin": 200, "developer": 200, "viewer": 200, "outsider": 404}
ADMIN_PAGE = {"owner": 200, "admin": 200, "developer": 403, "viewer": 403, "outsider": 404}


def client_for(people: Any, persona: str) -> Client:
    client = Client()
    if persona != "anonymous":
        client.force_login(people[persona])
    return client


def test_root_signed_out_is_the_sign_in_page(db: Any) -> None:
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login?next=/"
    page = Client().get("/login")
    assert page.status_code == 200
    html = page.content.decode()
    for label in (
        '<label for="id_username">Username</label>',
        '<label for="id_password">Password</label>',
        ">Sign in</button>",
    ):
        assert label in html


def test_sign_in_with_the_session_and_csrf(people: Any, workspace: Any) -> None:
    people["owner"].set_password("s3cret-pass")
    people["owner"].save()
    client = Client(enforce_csrf_checks=True)
    form = client.get("/login")
    token = form.cookies["csrftoken"].value
    refused = Client(enforce_csrf_checks=True).post(
        "/login", {"username": "owner", "password": "s3cret-pass"}
    )
    assert refused.status_code == 403  # no CSRF token
    signed = client.post(
        "/login",
        {"username": "owner", "password": "s3cret-pass", "csrfmiddlewaretoken": token, "next": "/"},
    )
    assert signed.status_code == 302 and signed["Location"] == "/"
    assert client.get("/")["Location"] == f"/w/{workspace.slug}/tasks"


@pytest.mark.parametrize("persona", PERSONAS)
def test_pages_by_persona(people: Any, workspace: Any, persona: str) -> None:
    task = TaskFactory(workspace=workspace, workflow_status="FAILED")
    group = TaskGroupFactory(workspace=workspace)
    client = client_for(people, persona)
    pages = {
        f"/w/{workspace.slug}/tasks": READ_PAGE,
        f"/w/{workspace.slug}/groups": READ_PAGE,
        f"/tasks/{task.pk}": READ_PAGE,
        f"/groups/{group.pk}": READ_PAGE,
        f"/w/{workspace.slug}/settings": ADMIN_PAGE,
    }
    for path, statuses in pages.items():
        response = client.get(path)
        if persona == "anonymous":
            assert response.status_code == 302, path
            assert response["Location"].startswith("/login?next="), path
        else:
            assert response.status_code == statuses[persona], path
            assert response["Content-Type"].startswith("text/html"), path


def test_malformed_and_unknown_ids_are_404_pages(people: Any, workspace: Any) -> None:
    client = client_for(people, "owner")
    for path in (
        "/tasks/nope",
        "/groups/nope",
        f"/tasks/{'0' * 8}-0000-0000-0000-{'0' * 12}",
        "/w/nowhere/tasks",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"Not found" in response.content


@pytest.mark.parametrize(
    ("persona", "shown"),
    [
        ("owner", {"Retry", "Archive", "Delete", "Send"}),
        ("admin", {"Retry", "Archive", "Delete", "Send"}),
        ("developer", {"Retry", "Archive", "Send"}),
        ("viewer", set()),
    ],
)
def test_task_page_shows_the_actions_its_permissions_allow(
    people: Any, workspace: Any, persona: str, shown: set[str]
) -> None:
    task = TaskFactory(workspace=workspace, workflow_status="FAILED")
    html = client_for(people, persona).get(f"/tasks/{task.pk}").content.decode()
    for name in ("Retry", "Archive", "Delete", "Send"):
        rendered = f">{name}</button>" in html
        visible = rendered and f"hidden>{name}</button>" not in html
        assert visible == (name in shown), (persona, name)
    assert ('aria-labelledby="logs-title"' in html) and ('id="logs-title">Logs<' in html)


def test_a_running_task_offers_halt_and_force_retry_not_retry(people: Any, workspace: Any) -> None:
    task = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    html = client_for(people, "developer").get(f"/tasks/{task.pk}").content.decode()
    assert 'data-action="retry" hidden>Retry<' in html
    assert 'data-action="halt">Halt<' in html
    assert 'data-action="force-retry">Force retry<' in html


def test_tasks_page_keeps_the_filters_of_its_url(people: Any, workspace: Any) -> None:
    html = (
        client_for(people, "viewer")
        .get(f"/w/{workspace.slug}/tasks?search=login&status=failed&tab=archived")
        .content.decode()
    )
    assert 'value="login"' in html
    assert '<option value="failed" selected>' in html
    assert 'name="tab" value="archived"' in html
    assert '<label for="search">Search tasks</label>' in html


def test_the_page_queries_do_not_grow_with_the_tasks(
    people: Any, workspace: Any, django_assert_max_num_queries: Any
) -> None:
    client = client_for(people, "owner")
    TaskFactory.create_batch(3, workspace=workspace)
    client.get(f"/w/{workspace.slug}/tasks")  # warm the session and role caches
    TaskFactory.create_batch(50, workspace=workspace)
    with django_assert_max_num_queries(12):
        assert client.get(f"/w/{workspace.slug}/tasks").status_code == 200
