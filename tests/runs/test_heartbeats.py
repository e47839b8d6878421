"""One thread per worker process heartbeats all the runs it executes (runs.worker.LiveRuns):
a round (every half second) is one statement whatever the number of runs, a beat one
more; a halt request or a run the reaper took stops its runner."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import TaskRun
from runs.worker import LiveRuns, execute_run
from tests.factories import RobotFactory, TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)

LONG_AGO = timezone.now() - timedelta(hours=1)


def running(workspace, count: int) -> list[TaskRun]:
    return [
        TaskRun.objects.create(
            task=TaskFactory(workspace=workspace, workflow_status="IN_PROGRESS"),
            number=1,
            status="IN_PROGRESS",
            started_at=LONG_AGO,
            heartbeat_at=LONG_AGO,
        )
        for _ in range(count)
    ]


def tracked(runs: list[TaskRun]) -> tuple[LiveRuns, dict[str, threading.Event]]:
    """The runs as a process's live runs, without the thread (the test drives the
    rounds)."""
    lives = LiveRuns()
    lives.beating = True
    stops = {str(run.pk): threading.Event() for run in runs}
    for run_id, stop in stops.items():
        lives.add(run_id, stop)
    return lives, stops


@pytest.mark.parametrize("count", [1, 12])
def test_a_round_is_one_statement_and_a_beat_one_more_whatever_the_number_of_runs(
    workspace, django_assert_num_queries, count
):
    runs = running(workspace, count)
    lives, stops = tracked(runs)
    with django_assert_num_queries(1):
        lives.check(beat=False)
    assert TaskRun.objects.filter(heartbeat_at=LONG_AGO).count() == count
    with django_assert_num_queries(2):
        lives.check(beat=True)
    assert not TaskRun.objects.filter(heartbeat_at=LONG_AGO).exists()
    assert not any(stop.is_set() for stop in stops.values())


def test_a_halt_request_and_a_run_the_reaper_took_stop_their_runners_and_say_why(workspace):
    asked_to_halt, reaped, untouched = running(workspace, 3)
    lives, _ = tracked([asked_to_halt, reaped, untouched])
    TaskRun.objects.filter(pk=asked_to_halt.pk).update(halt_requested=True)
    TaskRun.objects.filter(pk=reaped.pk).update(status="ERROR", error="Reaped.")
    lives.check(beat=True)
    halted, lost, fine = (lives.runs[str(run.pk)] for run in (asked_to_halt, reaped, untouched))
    assert (halted.halted, halted.lost, halted.stop.is_set()) == (True, False, True)
    assert (lost.halted, lost.lost, lost.stop.is_set()) == (False, True, True)
    assert (fine.halted, fine.lost, fine.stop.is_set()) == (False, False, False)
    reaped.refresh_from_db()
    assert reaped.heartbeat_at == LONG_AGO  # a run taken away is not stamped


def test_a_run_is_first_asked_about_a_second_after_its_claim(workspace, django_assert_num_queries):
    (run,) = running(workspace, 1)
    lives, _ = tracked([run])
    with django_assert_num_queries(0):
        lives.check(beat=True, older_than=60)
    run.refresh_from_db()
    assert run.heartbeat_at == LONG_AGO


def test_the_thread_beats_while_runs_are_live_and_ends_when_none_are(workspace, settings):
    settings.RUN_HEARTBEAT_SECONDS = 1
    (run,) = running(workspace, 1)
    lives = LiveRuns()
    lives.add(str(run.pk), threading.Event())
    deadline = time.monotonic() + 10
    while TaskRun.objects.get(pk=run.pk).heartbeat_at == LONG_AGO:
        assert time.monotonic() < deadline, "never stamped"
        time.sleep(0.05)
    assert lives.beating
    lives.remove(str(run.pk))
    while lives.beating:
        assert time.monotonic() < deadline, "the thread did not end"
        time.sleep(0.05)


def test_the_reaper_taking_a_running_run_stops_its_runner_and_the_run_keeps_its_status(
    workspace,
):
    robot = RobotFactory(workspace=workspace, config={"steps": [{"sleep": 30}]})
    task = TaskFactory(workspace=workspace, robot=robot, workflow_status="PENDING")
    run = TaskRun.objects.create(task=task, number=1)
    result: list[str | None] = []
    thread = threading.Thread(target=lambda: result.append(execute_run(str(run.pk))))
    thread.start()
    deadline = time.monotonic() + 10
    while TaskRun.objects.get(pk=run.pk).status != "IN_PROGRESS":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    TaskRun.objects.filter(pk=run.pk).update(status="ERROR", error="Reaped.")
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5  # a round every half second, not the 30 s sleep
    assert result == [None]  # it did not end it: the reaper did
    run.refresh_from_db()
    assert (run.status, run.error) == ("ERROR", "Reaped.")
