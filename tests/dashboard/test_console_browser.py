"""The web console in a real Chromium, against a live daphne + db_worker: sign in, the
tasks list (search, filters, URL state, load more, live rows), a task's chat with the
scripted robot answering live, logs that resume after a dropped connection, FORM
answers, retry, and what a viewer and an outsider get. Screenshots of each page at
1280 and 375 px go to var/screenshots/."""

import json
import re
import time
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import NARROW, WIDE, shoot
from tests.dashboard.console_stack import Stack

pytestmark = pytest.mark.browser
# A hang guard, not a timing assertion: two cores run the server, a worker and Chromium.
expect.set_options(timeout=20_000)


# A 1x1 PNG, for an attachment shown inline.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a3a1d9b40000000049454e44ae426082"
)
LAYOUT_SHIFTS = """() => {
    window.shifts = 0;
    new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
            if (!entry.hadRecentInput) window.shifts += entry.value;
        }
    }).observe({ type: "layout-shift" });
}"""


def api(stack: Stack, token: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{stack.url}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def wait_until(page: Any, expression: str, timeout: float = 15.0) -> None:
    """Polls a JavaScript expression from here: Playwright's wait_for_function compiles
    its predicate with eval inside the page, which the console's CSP forbids."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => Boolean({expression})"):
        assert time.monotonic() < deadline, f"gave up waiting for {expression}"
        time.sleep(0.05)


def log_seqs(page: Any) -> list[int]:
    return [
        int(s)
        for s in page.locator("#log-lines .log-line").evaluate_all(
            "nodes => nodes.map(n => n.dataset.seq)"
        )
    ]


def test_signed_out_root_opens_the_sign_in_page(browser: Any, stack: Any) -> None:
    running, _ = stack
    for viewport in (WIDE, NARROW):
        context = browser.new_context(viewport=viewport, base_url=running.url)
        page = context.new_page()
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/login\?next=/$"))
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        shoot(page, "sign-in")
        page.get_by_label("Username").fill("olive")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("did not match")
        context.close()


def test_sign_in_lands_on_the_workspace_tasks_with_tiles(signed_in: Any) -> None:
    for viewport in (WIDE, NARROW):
        page = signed_in("olive", viewport)
        expect(page).to_have_url(re.compile(r"/w/acme/tasks$"))
        expect(page.locator("#task-list .row").first).to_be_visible()
        expect(page.locator('[data-stat="total"]')).to_have_text(re.compile(r"^\d+$"))
        expect(page.locator('[data-stat="failed"]')).not_to_have_text("0")
        expect(page.locator("[data-waiting-count]")).to_have_text("1")  # the FORM task
        shoot(page, "tasks")


def test_search_and_filters_are_server_side_and_kept_in_the_url(signed_in: Any, stack: Any) -> None:
    _running, seeded = stack
    page = signed_in("olive")
    expect(page.locator("#task-list .row")).to_have_count(25)
    page.get_by_role("button", name="Load more").click()
    expect(page.locator("#task-list .row")).not_to_have_count(25)
    assert page.locator("#task-list .row").count() > 25

    page.get_by_role("searchbox", name="Search tasks").fill("slow build")
    expect(page).to_have_url(re.compile(r"search=slow\+build"))
    expect(page.locator("#task-list .row")).to_have_count(1)
    expect(page.locator("#task-list .row .title")).to_have_text("Slow build with many log lines")

    page.get_by_role("searchbox", name="Search tasks").fill("")
    page.get_by_label("Robot", exact=True).select_option(label="Echo robot")
    page.get_by_label("Status", exact=True).select_option("failed")
    expect(page).to_have_url(re.compile(f"robotId={seeded['echo_robot']}"))
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page.locator("#task-list .row")).to_have_count(2)

    # The URL is the view: opened elsewhere, it shows the same rows and form.
    shared = page.url
    other = signed_in("olive")
    other.goto(shared)
    expect(other.locator("#task-list .row")).to_have_count(2)
    expect(other.get_by_label("Status", exact=True)).to_have_value("failed")

    page.get_by_role("link", name="Archived").click()
    expect(page).to_have_url(re.compile(r"tab=archived"))
    expect(page.locator("#list-status")).to_have_text("No tasks match this view.")
    page.get_by_role("link", name="Clear filters").click()
    expect(page).to_have_url(re.compile(r"\?tab=archived$"))


def test_rows_change_live_without_a_reload(signed_in: Any, stack: Any) -> None:
    running, seeded = stack
    page = signed_in("olive")
    expect(page.locator("#task-list .row").first).to_be_visible()
    wait_until(
        page, "window.taskdeskRealtime && window.taskdeskRealtime.connection.state === 'connected'"
    )
    created = api(
        running,
        seeded["owner_token"],
        "POST",
        "/api/tasks",
        {"workspaceId": seeded["workspace_id"], "title": "Born while you watched"},
    )["data"]
    row = page.locator(f'#task-list .row[data-id="{created["id"]}"]')
    expect(row).to_be_visible()
    api(
        running,
        seeded["owner_token"],
        "PATCH",
        f"/api/tasks/{created['id']}",
        {"title": "Renamed live"},
    )
    expect(row.locator(".title")).to_have_text("Renamed live")


def test_a_message_gets_the_robots_answer_and_logs_live(signed_in: Any, stack: Any) -> None:
    _, seeded = stack
    page = signed_in("olive")
    page.goto(f"/tasks/{seeded['echo_task']}")
    expect(page.locator(".artifact .diff-add")).to_have_text("+print('hello')\n")
    expect(page.get_by_text("PR open")).to_be_visible()
    expect(page.get_by_role("region", name="Logs")).to_be_visible()
    # Layout shifts as events arrive are measured from here on (Chromium's own metric).
    page.evaluate(LAYOUT_SHIFTS)
    page.get_by_label("Message").fill("hello from the browser")
    page.locator("#attachments").set_input_files(
        [
            {"name": "dot.png", "mimeType": "image/png", "buffer": PNG},
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"some notes"},
        ]
    )
    page.get_by_role("button", name="Send").click()
    mine = page.locator(".message.user").last
    expect(mine.locator(".text")).to_have_text("hello from the browser")
    expect(mine.get_by_role("img", name="dot.png")).to_be_visible()
    expect(mine.get_by_role("link", name=re.compile("notes.txt"))).to_have_attribute(
        "download", "notes.txt"
    )
    expect(page.locator(".message.assistant .text").last).to_have_text(
        "Echo: hello from the browser"
    )
    logs = page.get_by_role("region", name="Logs")
    expect(logs.locator(".log-line .text").filter(has_text="answering")).to_have_count(1)
    expect(page.locator("[data-task-status]")).to_have_text("completed")
    assert page.evaluate("window.shifts") < 0.05, "the page moved as events arrived"
    shoot(page, "task")
    narrow = signed_in("olive", NARROW)
    narrow.goto(f"/tasks/{seeded['echo_task']}")
    expect(narrow.locator(".message.assistant .text").last).to_have_text(
        "Echo: hello from the browser"
    )
    shoot(narrow, "task")


def test_logs_resume_after_a_dropped_connection_with_no_line_lost_or_twice(
    signed_in: Any, stack: Any
) -> None:
    running, seeded = stack
    page = signed_in("olive")
    page.goto(f"/tasks/{seeded['slow_task']}")
    expect(page.locator("[data-log-state]")).to_have_text("ended")
    page.get_by_label("Message").fill("build it")
    page.get_by_role("button", name="Send").click()
    lines = page.locator("#log-lines .log-line")
    expect(lines.filter(has_text="slow line 5")).to_have_count(1)
    expect(page.locator("[data-log-state]")).to_have_text("live")

    running.stop_server()  # the network drops; the worker goes on writing lines
    expect(page.locator("[data-log-state]")).to_have_text("reconnecting")
    time.sleep(2)
    running.start_server()

    expect(lines.filter(has_text="slow line 40")).to_have_count(1, timeout=60_000)
    expect(page.locator("[data-log-state]")).to_have_text("ended", timeout=30_000)
    seqs = log_seqs(page)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap or a repeat"
    texts = lines.locator(".text").all_inner_texts()
    for n in range(1, 41):
        assert texts.count(f"slow line {n}") == 1, n
    expect(page.locator(".message.assistant .text").last).to_have_text("Slow work done.")
    expect(page.locator("[data-task-status]")).to_have_text("completed")


def test_answering_a_form_resumes_the_task(signed_in: Any, stack: Any) -> None:
    _, seeded = stack
    page = signed_in("olive")
    page.goto(f"/tasks/{seeded['form_task']}")
    form = page.get_by_role("group", name="Which branch should I release?")
    expect(page.locator("[data-task-waiting]")).to_be_visible()
    form.get_by_role("button", name="develop").click()
    expect(page.locator(".message.user .text").last).to_have_text("develop")
    expect(page.locator(".message.assistant .text").last).to_have_text("Echo: develop")
    expect(form.get_by_role("button", name="main")).to_be_disabled()
    expect(page.locator("[data-task-waiting]")).to_be_hidden()


def test_retry_a_failed_task(signed_in: Any, stack: Any) -> None:
    _, seeded = stack
    page = signed_in("olive")
    page.goto(f"/tasks/{seeded['failed_task']}")
    expect(page.get_by_role("button", name="Halt")).to_be_hidden()
    page.get_by_role("button", name="Retry").click()
    expect(page.locator("[data-task-status]")).to_have_text("completed")
    expect(page.locator(".message.assistant .text").last).to_have_text(
        "Echo: Flaky deploy that failed"
    )
    expect(page.locator("[data-task-run]")).to_have_text("#1 completed")
    newest = page.locator("[data-task-runs] tbody tr").first
    expect(newest).to_contain_text("#1")
    expect(newest).to_contain_text("retry by Olive Owner")
    expect(newest).to_contain_text("completed")


# A group held by a run that goes on (its worker is elsewhere), and a task queued behind
# it; no job is enqueued for the queued run, so it waits for as long as the test looks.
QUEUED_BEHIND_A_RUNNING_TASK = """
import json
from django.utils import timezone
from accounts.models import Workspace
from runs.models import TaskRun
from tasks.models import Task, TaskGroup
workspace = Workspace.objects.get(slug="acme")
group = TaskGroup.objects.create(workspace=workspace, kind="issue", binding_key="#q", title="Q")
now = timezone.now()
holder = Task.objects.create(
    workspace=workspace, group=group, title="Holds the group", workflow_status="IN_PROGRESS",
    workflow_started_at=now,
)
TaskRun.objects.create(
    task=holder, number=1, status="IN_PROGRESS", started_at=now, heartbeat_at=now,
    worker_id="elsewhere:1",
)
waiting = Task.objects.create(
    workspace=workspace, group=group, title="Waits its turn", workflow_status="PENDING"
)
TaskRun.objects.create(task=waiting, number=1, status="PENDING", trigger="message")
print(json.dumps({"holder": str(holder.pk), "waiting": str(waiting.pk)}))
"""


def test_a_queued_task_says_why_it_waits_on_its_row_and_its_page(
    signed_in: Any, stack: Any
) -> None:
    running, _ = stack
    ids = json.loads(running.shell(QUEUED_BEHIND_A_RUNNING_TASK))
    blocker = f"task {ids['holder'][:8]}"
    page = signed_in("olive")
    page.goto("/w/acme/tasks?status=PENDING")
    row = page.locator(f'.row[data-id="{ids["waiting"]}"]')
    expect(row.locator(".queue-note")).to_have_text(f"Waiting: group busy ({blocker})")
    page.goto(f"/tasks/{ids['waiting']}")
    note = page.locator("[data-task-queue]")
    expect(note).to_have_text(f"Waiting: group busy ({blocker})")
    expect(note.get_by_role("link", name=blocker)).to_have_attribute(
        "href", f"/tasks/{ids['holder']}"
    )
    run = page.locator("[data-task-runs] tbody tr").first
    expect(run).to_contain_text("message")
    expect(run).to_contain_text("pending")
    shoot(page, "task-queued")
    note.get_by_role("link", name=blocker).click()
    expect(page.locator("#task-title")).to_have_text("Holds the group")
    expect(page.locator("[data-task-queue]")).to_have_text("")


def test_archive_then_delete_with_a_confirmation(signed_in: Any, stack: Any) -> None:
    running, seeded = stack
    created = api(
        running,
        seeded["owner_token"],
        "POST",
        "/api/tasks",
        {"workspaceId": seeded["workspace_id"], "title": "Short-lived"},
    )["data"]
    page = signed_in("olive")
    page.goto(f"/tasks/{created['id']}")
    page.get_by_role("button", name="Archive").click()
    expect(page.locator("[data-task-archived]")).to_be_visible()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page).to_have_url(re.compile(created["id"]))
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete task").click()
    expect(page).to_have_url(re.compile(r"/w/acme/tasks$"))
    assert page.goto(f"/tasks/{created['id']}").status == 404


def test_a_viewer_reads_but_gets_no_actions_or_message_box(signed_in: Any, stack: Any) -> None:
    _, seeded = stack
    page = signed_in("vera")
    page.goto(f"/tasks/{seeded['viewer_failed_task']}")
    expect(page.locator("#task-title")).to_have_text("Another failed migration")
    for name in ("Retry", "Force retry", "Halt", "Archive", "Delete", "Send"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    expect(page.get_by_label("Message")).to_have_count(0)
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)
    assert page.goto("/w/acme/settings").status == 403


def test_an_outsider_gets_404(signed_in: Any, stack: Any) -> None:
    _, seeded = stack
    page = signed_in("oscar")
    expect(page).to_have_url(re.compile(r"/w/elsewhere/tasks$"))
    for path in (
        f"/tasks/{seeded['echo_task']}",
        "/w/acme/tasks",
        f"/groups/{seeded['group']}",
        "/tasks/not-a-uuid",
    ):
        response = page.goto(path)
        assert response.status == 404, path
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def test_groups_and_settings_pages(signed_in: Any, stack: Any) -> None:
    _, _seeded = stack
    for viewport in (WIDE, NARROW):
        page = signed_in("olive", viewport)
        page.get_by_role("link", name="Task groups").click()
        expect(page.get_by_role("link", name="Checkout is slow")).to_be_visible()
        shoot(page, "groups")
        page.get_by_role("link", name="Checkout is slow").click()
        expect(page.locator(".turn")).to_have_count(2)
        expect(page.locator(".turn .task-card").first).to_contain_text(
            "Say hello to the echo robot"
        )
        shoot(page, "group")
        page.get_by_role("link", name="Settings").click()
        expect(page.locator("#members tr")).to_have_count(2)
        expect(page.locator("#robots")).to_contain_text("Slow robot")
        shoot(page, "settings")
    page.get_by_label("Token name").fill("ci")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("[data-token]")).to_have_text(re.compile(r"^td_"))
    page.get_by_role("button", name="Revoke ci").click()
    expect(page.locator("#settings-status")).to_have_text("Token revoked.")


LOG_BURST = """
from django.db import transaction
from runs.models import TaskLog, TaskRun
from tasks import counters
from tasks.models import Task
task = Task.objects.get(pk="{task}")
with transaction.atomic():
    run = TaskRun.objects.create(task=task, number=1, status="IN_PROGRESS")
    with counters.tracked([task.pk]):
        Task.objects.filter(pk=task.pk).update(workflow_status="IN_PROGRESS")
    TaskLog.objects.bulk_create(
        [TaskLog(task=task, run=run, seq=n, stream="stdout", line=f"old line {{n}}")
         for n in range(1, 451)]
    )
print(run.pk)
"""

MANY_LINES = """
from runs.models import TaskLog, TaskRun
run = TaskRun.objects.get(pk="{run}")
for start in range(451, 100451, 10000):
    TaskLog.objects.bulk_create(
        [TaskLog(task_id=run.task_id, run=run, seq=n, stream="stdout", line=f"burst line {{n}}")
         for n in range(start, start + 10000)],
        batch_size=2000,
    )
print("ok")
"""

FINISH = """
from runs.models import TaskRun
from runs.runners import Outcome
from runs.worker import finish_run
finish_run(TaskRun.objects.get(pk="{run}"), Outcome("COMPLETED"), [])
print("ok")
"""


def test_logs_open_on_the_newest_lines_page_back_and_hold_100000_in_a_bounded_window(
    signed_in: Any, stack: Any
) -> None:
    running, seeded = stack
    created = api(
        running,
        seeded["owner_token"],
        "POST",
        "/api/tasks",
        {"workspaceId": seeded["workspace_id"], "title": "A very chatty build"},
    )["data"]
    run = running.shell(LOG_BURST.format(task=created["id"]))
    page = signed_in("olive")
    page.goto(f"/tasks/{created['id']}")
    expect(page.locator("[data-log-state]")).to_have_text("live")
    lines = page.locator("#log-lines .log-line")
    expect(lines).to_have_count(200)  # the newest 200 first
    assert log_seqs(page)[0] == 251 and log_seqs(page)[-1] == 450
    page.get_by_role("button", name="Load earlier").click()
    expect(lines).to_have_count(400)
    assert log_seqs(page)[0] == 51

    running.shell(MANY_LINES.format(run=run))  # 100,000 lines while the page watches
    expect(lines.last).to_have_text(re.compile(r"burst line 100450$"), timeout=120_000)
    assert lines.count() <= 2000, "the window is bounded"
    seqs = log_seqs(page)
    assert seqs == list(range(seqs[0], 100451)), "no line lost or twice in the window"
    # The tab answers at once: no long task holds the main thread.
    started = time.monotonic()
    page.evaluate("() => new Promise(requestAnimationFrame)")
    assert time.monotonic() - started < 2
    running.shell(FINISH.format(run=run))
    expect(page.locator("[data-log-state]")).to_have_text("ended")


def test_a_list_left_open_over_a_server_restart_catches_up_from_the_outbox(
    signed_in: Any, stack: Any
) -> None:
    running, _ = stack
    page = signed_in("olive")
    wait_until(page, "window.taskdeskRealtime.connection.state === 'connected'")
    running.stop_server()
    wait_until(page, "window.taskdeskRealtime.connection.state !== 'connected'")
    # Written while the server is down: the push fails and the event waits in the outbox
    # (no realtime_dispatch runs here); only the page's replay can bring it.
    task_id = running.shell(
        "from accounts.models import User, Workspace\n"
        "from tasks.services import create_task\n"
        "print(create_task(actor=User.objects.get(username='olive'), "
        "workspace=Workspace.objects.get(slug='acme'), title='Made during the outage').pk)"
    )
    running.start_server()
    expect(page.locator(f'#task-list .row[data-id="{task_id}"]')).to_be_visible(timeout=90_000)
    expect(page.locator(f'#task-list .row[data-id="{task_id}"] .title')).to_have_text(
        "Made during the outage"
    )


def test_keyboard_only_sign_in_and_search(browser: Any, stack: Any) -> None:
    running, _ = stack
    context = browser.new_context(viewport=WIDE, base_url=running.url)
    page = context.new_page()
    page.goto("/")
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type("olive")
    page.keyboard.press("Tab")
    page.keyboard.type("olive-password-1")
    page.keyboard.press("Enter")
    page.wait_for_url("**/w/acme/tasks")
    search = page.get_by_role("searchbox", name="Search tasks")
    search.focus()
    page.keyboard.type("flaky")
    expect(page).to_have_url(re.compile(r"search=flaky"))
    expect(page.locator("#task-list .row")).to_have_count(1)
    outline = search.evaluate("node => getComputedStyle(node).outlineStyle")
    assert outline != "none", "focus is visible"
    context.close()
