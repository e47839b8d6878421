"""The staff admin at scale (config.changelists): a changelist's queries do not grow with
its rows, and no changelist counts a whole table (every COUNT is over a LIMIT)."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Membership
from config import changelists
from integrations.models import WebhookDelivery, WebhookEndpoint
from realtime.models import OutboxEvent
from runs.models import TaskLog
from tests.factories import (
    ChatMessageFactory,
    TaskFactory,
    TaskGroupFactory,
    TaskRunFactory,
    UserFactory,
)


def add_tasks(workspace: Any, n: int) -> None:
    for _ in range(n):
        TaskFactory(workspace=workspace, ran=True)


def add_messages(workspace: Any, n: int) -> None:
    task = TaskFactory(workspace=workspace, ran=True)
    for _ in range(n):
        ChatMessageFactory(task=task, created_by=task.created_by)


def add_runs(workspace: Any, n: int) -> None:
    for _ in range(n):
        TaskRunFactory(task=TaskFactory(workspace=workspace, ran=True))


def add_logs(workspace: Any, n: int) -> None:
    run = TaskRunFactory(task=TaskFactory(workspace=workspace, ran=True))
    start = TaskLog.objects.filter(task=run.task).count()
    TaskLog.objects.bulk_create(
        TaskLog(task=run.task, run=run, seq=start + i + 1, line=f"line {i}") for i in range(n)
    )


def add_outbox(workspace: Any, n: int) -> None:
    start = OutboxEvent.objects.count()
    OutboxEvent.objects.bulk_create(
        OutboxEvent(channel="private-admin-test", event="e", data={}, seq=start + i + 1)
        for i in range(n)
    )


def add_memberships(workspace: Any, n: int) -> None:
    for _ in range(n):
        Membership.objects.create(workspace=workspace, user=UserFactory())


def add_deliveries(workspace: Any, n: int) -> None:
    endpoint = WebhookEndpoint.objects.filter(workspace=workspace).first()
    if endpoint is None:
        endpoint = WebhookEndpoint.objects.create(
            workspace=workspace, url="https://hooks.example.com/in"
        )
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint=endpoint, event="task.created", payload={}) for _ in range(n)
    )


def add_groups(workspace: Any, n: int) -> None:
    for _ in range(n):
        TaskGroupFactory(workspace=workspace)


CHANGELISTS: list[tuple[str, Callable[[Any, int], None], dict[str, str]]] = [
    ("admin:tasks_task_changelist", add_tasks, {"q": "Task"}),
    ("admin:tasks_taskgroup_changelist", add_groups, {"q": "x"}),
    ("admin:chat_chatmessage_changelist", add_messages, {"q": "message"}),
    ("admin:runs_taskrun_changelist", add_runs, {"status__exact": "PENDING"}),
    ("admin:runs_tasklog_changelist", add_logs, {"stream__exact": "stdout"}),
    ("admin:realtime_outboxevent_changelist", add_outbox, {"q": "private-admin-test"}),
    ("admin:accounts_membership_changelist", add_memberships, {"role__exact": "DEVELOPER"}),
    ("admin:integrations_webhookdelivery_changelist", add_deliveries, {"event": "task.created"}),
]


def captured(client: Any, url: str, params: dict[str, str]) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params).status_code == 200
    return [q["sql"] for q in queries.captured_queries]


def unbounded_counts(sqls: list[str]) -> list[str]:
    """COUNT or DISTINCT queries without a LIMIT inside: they would read every matching
    row (a full count, a list filter's every value)."""
    return [
        sql for sql in sqls if re.search(r"COUNT\(|SELECT DISTINCT", sql) and " LIMIT " not in sql
    ]


@pytest.mark.parametrize(("name", "add", "search"), CHANGELISTS, ids=[c[0] for c in CHANGELISTS])
def test_a_changelist_issues_the_same_queries_for_1_and_50_rows_and_never_counts_a_table(
    staff_client, workspace, name, add, search
):
    url = reverse(name)
    add(workspace, 1)
    staff_client.get(url)  # warm: the session, content types
    few = captured(staff_client, url, {})
    add(workspace, 49)
    many = captured(staff_client, url, {})
    assert len(many) == len(few)
    searched = captured(staff_client, url, search)
    for sqls in (few, many, searched):
        assert unbounded_counts(sqls) == []


def test_the_paginator_counts_up_to_its_cap_and_says_more_beyond(
    staff_client, workspace, monkeypatch
):
    monkeypatch.setattr(changelists, "COUNT_CAP", 5)
    for n in range(8):
        TaskFactory(workspace=workspace, ran=True, title=f"Capped {n}")
    url = reverse("admin:tasks_task_changelist")
    filtered = staff_client.get(url, {"workflow_status__exact": "COMPLETED"})
    # The filtered count stops at cap + 1: it reads six rows, not the table.
    assert filtered.context["cl"].result_count == 6
    few = staff_client.get(url, {"workflow_status__exact": "COMPLETED", "q": "capped 3"})
    assert few.context["cl"].result_count == 1


def test_inlines_show_the_newest_rows_only(staff_client, workspace):
    from runs.admin import NEWEST_RUNS_SHOWN

    task = TaskFactory(workspace=workspace, ran=True)
    for number in range(1, NEWEST_RUNS_SHOWN + 6):
        TaskRunFactory(task=task, number=number)
    html = staff_client.get(reverse("admin:tasks_task_change", args=[task.pk])).content.decode()
    assert f"runs (newest {NEWEST_RUNS_SHOWN})".lower() in html.lower()
    shown = re.findall(r'<td class="field-number">\s*<p>(\d+)</p>', html)
    assert sorted(int(n) for n in shown) == list(range(6, NEWEST_RUNS_SHOWN + 6))


def test_the_row_checkbox_is_django_s_own_html(staff_client, workspace):
    """ScaledAdmin writes the action checkbox itself (Django renders a widget template
    per row): the same bytes as Django's, escaping included."""
    from django.contrib import admin
    from django.contrib.admin import ModelAdmin

    from tasks.models import Task

    task = TaskFactory(workspace=workspace, title='<b>"Fix" & ship</b>')
    ours = admin.site._registry[Task]
    assert isinstance(ours, changelists.ScaledAdmin)
    assert ours.action_checkbox(task) == ModelAdmin.action_checkbox(ours, task)
    html = staff_client.get(reverse("admin:tasks_task_changelist")).content.decode()
    assert ours.action_checkbox(task) in html
