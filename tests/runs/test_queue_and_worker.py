"""Runs from queue to outcome with the immediate backend: scripted steps, groups, FORM
turns, the reaper, log caps and masking."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.models import Artifact, ChatMessage
from realtime import dispatch
from runs import logs, worker
from runs.logs import LogWriter, append_lines
from runs.models import TaskLog, TaskRun
from runs.reaper import (
    keep_reaper_scheduled,
    reap_stale_runs,
    reap_stale_runs_job,
    runs_are_active,
)
from runs.runners import AssistantMessage, Outcome
from runs.services import queue_run, request_answer
from runs.turns import lock_task
from runs.worker import execute_run, finish_run
from tasks.models import Task
from tests.factories import RobotFactory, TaskFactory, TaskGroupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def statuses(events):
    return [e["data"]["workflowStatus"] for e in events if e["event"] == "workflow-status-update"]


def test_queue_run_executes_the_scripted_echo_robot(workspace, recorded_events):
    task = TaskFactory(workspace=workspace, title="Fix the login")
    run = queue_run(task)
    run.refresh_from_db()
    task.refresh_from_db()
    assert run.status == "COMPLETED" and run.started_at and run.finished_at and run.worker_id
    assert task.workflow_status == "COMPLETED" and task.workflow_completed_at
    assert task.workflow_started_at is not None
    answer = ChatMessage.objects.get(task=task)
    assert answer.role == "ASSISTANT" and answer.message == "Echo: Fix the login"
    assert task.message_count == 1 and task.output_text == "Echo: Fix the login"
    seqs = list(TaskLog.objects.filter(task=task).values_list("seq", flat=True))
    assert len(seqs) >= 4 and seqs == list(range(1, len(seqs) + 1))
    assert statuses(recorded_events) == ["PENDING", "IN_PROGRESS", "COMPLETED"]
    assert any(e["event"] == "new-message" and e["data"] == str(answer.pk) for e in recorded_events)
    # The list views hear each commit's state once: the end's answer and outcome are one
    # commit, so no IN_PROGRESS after the answer.
    announced = [
        e["data"]["workflowStatus"]
        for e in recorded_events
        if e["event"] == "task-updated" and e["channel"] == "private-workspace-acme"
    ]
    assert announced == ["PENDING", "IN_PROGRESS", "COMPLETED"]


def test_echo_answers_the_last_user_message(workspace):
    task = TaskFactory(workspace=workspace)
    ChatMessage.objects.create(task=task, role="USER", message="first")
    ChatMessage.objects.create(task=task, role="USER", message="make it blue")
    queue_run(task)
    assert ChatMessage.objects.filter(task=task, role="ASSISTANT").get().message == (
        "Echo: make it blue"
    )


def test_scripted_steps_log_message_with_artifacts_and_fail(workspace):
    robot = RobotFactory(
        workspace=workspace,
        config={
            "steps": [
                {"log": "compiling"},
                {"log": "warning", "stream": "stderr"},
                {"message": "Here is a diff", "artifacts": [{"type": "DIFF", "content": {"d": 1}}]},
                {"sleep": 0.01},
                {"fail": "tests failed"},
                {"log": "never"},
            ]
        },
    )
    task = TaskFactory(workspace=workspace, robot=robot)
    run = queue_run(task)
    run.refresh_from_db()
    task.refresh_from_db()
    assert run.status == "FAILED" and run.error == "tests failed"
    assert task.workflow_status == "FAILED" and task.error == "tests failed"
    lines = list(TaskLog.objects.filter(task=task).values_list("stream", "line"))
    assert ("stdout", "compiling") in lines and ("stderr", "warning") in lines
    assert ("stdout", "never") not in lines
    artifact = Artifact.objects.get(message__task=task)
    assert artifact.type == "DIFF" and artifact.content == {"d": 1}


def scripted_run(workspace, steps):
    robot = RobotFactory(workspace=workspace, config={"steps": steps})
    task = TaskFactory(workspace=workspace, robot=robot)
    run = queue_run(task)
    run.refresh_from_db()
    task.refresh_from_db()
    return run, task


def test_a_message_followed_by_more_work_commits_before_that_work(workspace):
    """Only a runner's last word waits for its run's end: a message with work after it is
    committed as soon as the runner goes on (here, with its next line)."""
    robot = RobotFactory(
        workspace=workspace, config={"steps": [{"message": "first"}, {"log": "more"}]}
    )
    task = TaskFactory(workspace=workspace, robot=robot)
    with CaptureQueriesContext(connection) as queries:
        run = queue_run(task)
    sql = [q["sql"] for q in queries]
    answer = next(i for i, s in enumerate(sql) if "INSERT" in s and "chat_chatmessage" in s)
    ended = next(i for i, s in enumerate(sql) if "tasks_taskrun" in s and "'COMPLETED'" in s)
    assert any(s.startswith("COMMIT") for s in sql[answer:ended])
    run.refresh_from_db()
    assert run.status == "COMPLETED" and ChatMessage.objects.get(task=task).message == "first"


def test_what_a_runner_said_before_it_failed_is_kept(workspace, monkeypatch):
    """The worker looks at the event after a message to know whether it was the last
    word; a runner that fails there still has its message written, and the run ends in
    ERROR."""

    def failing_after_a_message(context):
        yield AssistantMessage("half an answer")
        raise RuntimeError("the model went away")

    monkeypatch.setattr(worker, "runner_for", lambda kind: failing_after_a_message)
    task = TaskFactory(workspace=workspace)
    run = queue_run(task)
    run.refresh_from_db()
    assert run.status == "ERROR" and "the model went away" in run.error
    assert ChatMessage.objects.get(task=task).message == "half an answer"


def test_a_last_message_of_a_run_taken_away_is_kept_and_counted(workspace, monkeypatch):
    """The reaper took the run while its runner gave its last word: the run keeps the
    reaper's status and the task its own, but the answer is written and counted (its
    counters, which the run's end writes with its move, are written on their own)."""

    def answering_while_reaped(context):
        yield AssistantMessage("late answer")
        TaskRun.objects.filter(task_id=context.task_id).update(status="ERROR", error="Reaped.")

    monkeypatch.setattr(worker, "runner_for", lambda kind: answering_while_reaped)
    task = TaskFactory(workspace=workspace)
    run = queue_run(task)
    run.refresh_from_db()
    task.refresh_from_db()
    assert (run.status, run.error) == ("ERROR", "Reaped.")
    assert task.workflow_status == "IN_PROGRESS"
    assert ChatMessage.objects.get(task=task).message == "late answer"
    assert task.message_count == 1


def test_a_last_message_that_cannot_be_written_ends_the_run_in_error(workspace):
    run, task = scripted_run(workspace, [{"log": "working"}, {"message": " "}])
    assert run.status == "ERROR" and "A message needs text" in run.error
    assert task.workflow_status == "ERROR" and not ChatMessage.objects.filter(task=task).exists()
    lines = list(TaskLog.objects.filter(task=task).values_list("line", flat=True))
    assert lines[-1] == "run 1 ended: ERROR"


def test_a_message_that_cannot_be_written_mid_run_ends_it_in_error(workspace):
    run, task = scripted_run(workspace, [{"message": " "}, {"log": "never written"}])
    assert run.status == "ERROR" and "A message needs text" in run.error
    assert task.workflow_status == "ERROR" and not ChatMessage.objects.filter(task=task).exists()


def test_form_question_waits_and_the_reply_starts_the_next_turn(workspace):
    robot = RobotFactory(workspace=workspace, config={"steps": [{"form": "Which colour?"}]})
    task = TaskFactory(workspace=workspace, robot=robot)
    queue_run(task)
    task.refresh_from_db()
    assert task.workflow_status == "IN_PROGRESS" and task.awaiting_input
    assert Artifact.objects.get(message__task=task).type == "FORM"
    assert TaskRun.objects.get(task=task).status == "COMPLETED"

    ChatMessage.objects.create(task=task, role="USER", message="blue")
    robot.config = {}
    robot.save()
    answer(task)
    task.refresh_from_db()
    assert task.runs.count() == 2 and task.workflow_status == "COMPLETED"
    assert task.retries == 0 and not task.awaiting_input
    assert ChatMessage.objects.filter(task=task, role="ASSISTANT").last().message == "Echo: blue"


def answer(task):
    """What a USER message does: asks for an answer inside its transaction, with the task
    locked."""
    with transaction.atomic():
        request_answer(lock_task(task.pk))


def running(task):
    return TaskRun.objects.create(
        task=task,
        number=1,
        status="IN_PROGRESS",
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )


def test_a_group_runs_one_task_at_a_time_and_starts_the_next_when_it_ends(workspace):
    group = TaskGroupFactory(workspace=workspace)
    first = TaskFactory(workspace=workspace, group=group, workflow_status="IN_PROGRESS")
    busy = running(first)
    second = TaskFactory(workspace=workspace, group=group)
    run = queue_run(second)
    run.refresh_from_db()
    assert run.status == "PENDING"  # waits for the group

    finish_run(busy, Outcome("COMPLETED"), [])
    run.refresh_from_db()
    first.refresh_from_db()
    assert first.workflow_status == "COMPLETED"
    assert run.status == "COMPLETED" and run.started_at >= busy.started_at


def test_a_message_during_a_run_queues_the_next_turn(workspace):
    task = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    current = running(task)
    answer(task)
    answer(task)  # one queued turn is enough
    assert task.runs.filter(status="PENDING").count() == 1
    task.refresh_from_db()
    assert task.workflow_status == "IN_PROGRESS"
    finish_run(current, Outcome("COMPLETED"), [])
    task.refresh_from_db()
    assert task.workflow_status == "COMPLETED" and task.runs.count() == 2


def test_a_run_executes_at_most_once(workspace):
    task = TaskFactory(workspace=workspace)
    run = queue_run(task)
    assert execute_run(str(run.pk)) is None
    assert TaskRun.objects.get(pk=run.pk).status == "COMPLETED"


def test_reaper_marks_silent_runs_error(workspace, settings, recorded_events):
    settings.STALE_RUN_SECONDS = 60
    task = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    run = running(task)
    TaskRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    fresh = running(TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS"))
    assert reap_stale_runs() == 1
    run.refresh_from_db()
    task.refresh_from_db()
    assert run.status == "ERROR" and "No heartbeat for 60 s" in run.error
    assert task.workflow_status == "ERROR" and task.error == run.error
    assert TaskRun.objects.get(pk=fresh.pk).status == "IN_PROGRESS"
    assert statuses(recorded_events) == ["ERROR"]


def test_reaper_requeues_a_stale_run_once_when_asked(workspace, settings):
    settings.STALE_RUN_SECONDS = 60
    settings.RETRY_STALE_RUNS = True
    task = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    run = running(task)
    TaskRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    assert reap_stale_runs() == 1
    assert list(task.runs.values_list("status", flat=True)) == ["ERROR", "COMPLETED"]

    run.refresh_from_db()
    assert run.error.startswith("Requeued after no heartbeat")

    # The requeued run goes silent too: this time it ends ERROR, no third run.
    TaskRun.objects.filter(task=task, number=2).update(
        status="IN_PROGRESS", heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    Task.objects.filter(pk=task.pk).update(workflow_status="IN_PROGRESS")
    reap_stale_runs()
    task.refresh_from_db()
    assert task.runs.count() == 2 and task.runs.get(number=2).status == "ERROR"
    assert task.workflow_status == "ERROR"


def test_the_workers_keep_the_reaper_scheduled_while_runs_are_queued_or_running(
    workspace, settings
):
    """ops.pulse calls `keep_reaper_scheduled` every WORKER_HEARTBEAT_SECONDS; a message
    that queues a run no longer checks for the reaper on its path."""
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    reapers = DBTaskResult.objects.filter(task_path=reap_stale_runs_job.module_path, status="READY")
    assert not keep_reaper_scheduled()  # nothing queued or running
    queue_run(TaskFactory(workspace=workspace))  # PENDING: no worker runs the queue here
    assert not reapers.exists()
    before = timezone.now()
    assert keep_reaper_scheduled()
    assert not keep_reaper_scheduled()  # one waits already
    waiting = reapers.get()
    assert waiting.run_after >= before + timedelta(seconds=settings.REAPER_INTERVAL_SECONDS)


@pytest.mark.postgres_only
def test_whether_runs_are_active_is_read_from_the_partial_indexes():
    """Every worker's pulse asks it: with no run active, `status IN (...)` matched neither
    partial index and scanned the whole run table."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        runs_are_active()
    (sql,) = [q["sql"] for q in queries]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "taskrun_pending_created_idx" in plan and "taskrun_live_heartbeat_idx" in plan, plan


def test_log_caps_keep_one_truncation_line(workspace, settings):
    settings.TASK_LOG_MAX_LINES = 5
    task = TaskFactory(workspace=workspace)
    run = TaskRun.objects.create(task=task, number=1)
    writer = LogWriter(run)
    for i in range(20):
        writer.write("stdout", f"line {i}")
    writer.flush()
    lines = list(TaskLog.objects.filter(task=task).values_list("line", flat=True))
    assert lines[:5] == [f"line {i}" for i in range(5)]
    assert len(lines) == 6 and lines[5].startswith("[log truncated")


def test_log_byte_cap(workspace, settings):
    settings.TASK_LOG_MAX_BYTES = 100
    run = TaskRun.objects.create(task=TaskFactory(workspace=workspace), number=1)
    writer = LogWriter(run)
    for _ in range(10):
        writer.write("stdout", "x" * 30)
    writer.flush()
    assert TaskLog.objects.filter(run=run).count() == 4


def test_secrets_are_masked_in_logs_messages_and_output(workspace):
    robot = RobotFactory(
        workspace=workspace,
        config={
            "secrets": ["hunter2-secret"],
            "steps": [
                {"log": "using key sk-abcdefghijklmnopqrstuvwx and hunter2-secret"},
                {"log": "Authorization: Bearer abcdefghijklmnop"},
                {"message": "password=swordfish ghp_abcdefghijklmnopqrstuvwxyz0123"},
            ],
        },
    )
    task = TaskFactory(workspace=workspace, robot=robot)
    queue_run(task)
    text = "\n".join(TaskLog.objects.filter(task=task).values_list("line", flat=True))
    assert "sk-abc" not in text and "hunter2" not in text and "abcdefghijklmnop" not in text
    assert text.count("****") >= 3
    message = ChatMessage.objects.get(task=task).message
    assert "swordfish" not in message and "ghp_abcdefghij" not in message


@pytest.mark.postgres_only
def test_seq_is_gap_free_with_concurrent_writers(workspace):
    from django.db import connection

    task = TaskFactory(workspace=workspace)
    runs = [TaskRun.objects.create(task=task, number=n) for n in (1, 2)]

    def write(run):
        writer = LogWriter(run, batch_lines=7)
        for i in range(300):
            writer.write("stdout", f"{run.number}:{i}")
        writer.flush()
        connection.close()

    threads = [threading.Thread(target=write, args=(run,)) for run in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = list(TaskLog.objects.filter(task=task).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 601))
    assert Task.objects.get(pk=task.pk).log_seq == 600
    for run in runs:  # each writer's lines keep their order
        own = list(TaskLog.objects.filter(run=run).order_by("seq").values_list("line", flat=True))
        assert own == [f"{run.number}:{i}" for i in range(300)]


def test_a_runs_lines_follow_on_from_every_other_writer_of_its_task(workspace):
    """A claim and an end number their lines from the locked task's `log_seq` and move it
    on with the task's UPDATE (config.fused): the lines of another writer in between, and
    of the next run, follow on without a gap or a repeat."""
    task = TaskFactory(workspace=workspace, title="Fix the login")
    first = queue_run(task)
    append_lines(first, [("stdout", "between")])
    second = queue_run(Task.objects.get(pk=task.pk))
    lines = list(TaskLog.objects.filter(task=task).order_by("seq").values_list("seq", "run"))
    seqs = [seq for seq, _ in lines]
    assert len(seqs) >= 9 and seqs == list(range(1, len(seqs) + 1))
    assert Task.objects.get(pk=task.pk).log_seq == len(seqs)
    assert {run for _, run in lines} == {first.pk, second.pk}
    assert set(TaskRun.objects.filter(task=task).values_list("status", flat=True)) == {"COMPLETED"}


def test_reap_stale_runs_command(workspace, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.STALE_RUN_SECONDS = 1
    task = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    run = running(task)
    TaskRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=5))
    out = StringIO()
    call_command("reap_stale_runs", stdout=out)
    assert "Reaped 1 stale run(s)." in out.getvalue()
    assert TaskRun.objects.get(pk=run.pk).status == "ERROR"


def test_demo_robots_are_seeded_once_and_answer(db):
    from io import StringIO

    from django.core.management import call_command

    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    robots = {r.name: r for r in RobotFactory._meta.model.objects.filter(workspace__slug="demo")}
    assert len(robots) == 4 and {r.runner for r in robots.values()} == {"scripted", "command"}
    assert robots["Shell robot"].config == {"profile": "demo-shell"}  # sandboxed, on a profile
    echo = robots["Echo robot"]
    task = TaskFactory(workspace=echo.workspace, robot=echo, title="Say hi")
    queue_run(task)
    task.refresh_from_db()
    assert task.workflow_status == "COMPLETED"
    assert ChatMessage.objects.get(task=task).message == "Echo: Say hi"


def test_a_run_of_a_task_deleted_while_queued_never_starts(workspace):
    task = TaskFactory(workspace=workspace, workflow_status="PENDING", deleted=True)
    run = TaskRun.objects.create(task=task, number=1)
    assert execute_run(str(run.pk)) is None
    run.refresh_from_db()
    assert run.status == "HALTED" and not TaskLog.objects.filter(task=task).exists()


def test_a_nul_in_a_runners_output_is_kept_as_a_replacement_character(workspace):
    """PostgreSQL refuses a NUL in text, and a command's output may hold one: a line
    flushed mid-run, the last line, the answer and the error all keep it as U+FFFD."""
    task = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    current = running(task)
    writer = LogWriter(current)
    writer.write("stdout", "mid-run \x00 line")
    writer.flush()
    writer.write("stdout", "a NUL \x00 here", hold=True)
    outcome = Outcome("FAILED", error="bad \x00 byte", output_text="out \x00")
    assert finish_run(current, outcome, [], writer=writer) == "FAILED"
    lines = list(TaskLog.objects.filter(task=task).order_by("seq").values_list("line", flat=True))
    assert lines == ["mid-run \ufffd line", "a NUL \ufffd here"]
    task.refresh_from_db()
    assert task.error == "bad \ufffd byte" and task.output_text == "out \ufffd"


def test_a_run_ends_even_when_its_last_log_lines_cannot_be_written(workspace):
    """The end's transaction fails on the buffered lines (here, lines put in the buffer
    past the writer's cleaning, which PostgreSQL refuses; on SQLite they are written), and
    the run ends without them instead of staying IN_PROGRESS."""
    task = TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS")
    current = running(task)
    writer = LogWriter(current)
    writer.buffer.append(("stdout", "a raw NUL \x00 here"))
    assert finish_run(current, Outcome("COMPLETED"), [], writer=writer) == "COMPLETED"
    current.refresh_from_db()
    task.refresh_from_db()
    assert current.status == "COMPLETED" and task.workflow_status == "COMPLETED"


def test_a_claims_log_line_goes_to_the_streams_from_the_sender_thread(workspace, monkeypatch):
    """The claim commits `in_background`: its line, like its events, goes out on the
    worker's sender thread while the run starts; other commits send their own lines."""
    heard = []

    def notify(task_id, message):
        heard.append((threading.current_thread().name, [x["line"] for x in message["lines"]]))

    monkeypatch.setattr(logs, "notify", notify)
    run = TaskRun.objects.create(task=TaskFactory(workspace=workspace), number=1)
    sender = dispatch.start_background_sender()
    try:
        with dispatch.in_background(), transaction.atomic():
            append_lines(run, [("system", "run 1 started")])
        with transaction.atomic():
            append_lines(run, [("stdout", "working")])
    finally:
        sender.stop(timeout=10)
    assert sorted(heard) == sorted(
        [("outbox-sender", ["run 1 started"]), (threading.current_thread().name, ["working"])]
    )
