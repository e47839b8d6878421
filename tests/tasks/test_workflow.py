"""The task state machine (tasks.workflow) and the run status table: the one writer of
each status, the moves they allow, and PATCH going through them."""

import pytest

from runs.models import RUN_TRANSITIONS, TaskRun
from tasks import workflow
from tasks.models import Task, WorkflowStatus
from tests import recording
from tests.factories import TaskFactory, TaskRunFactory
from tests.personas import assert_error, expect

W = WorkflowStatus
EVERY_STATUS = [None, *W.values]


@pytest.mark.parametrize("current", EVERY_STATUS)
@pytest.mark.parametrize("to", W.values)
def test_the_engine_may_make_exactly_the_moves_of_the_table(current, to):
    allowed = to == current or to in workflow.TRANSITIONS[current]
    if allowed:
        workflow.check(current, to)
    else:
        with pytest.raises(workflow.IllegalTransition):
            workflow.check(current, to)


@pytest.mark.parametrize("current", EVERY_STATUS)
def test_a_person_never_queues_work(current):
    if current == W.PENDING:
        workflow.check(current, W.PENDING, by_person=True)  # no move at all
        return
    with pytest.raises(workflow.IllegalTransition, match="retry or a chat message"):
        workflow.check(current, W.PENDING, by_person=True)


def test_move_stamps_the_times_and_publishes_only_a_change(db, django_capture_on_commit_callbacks):
    task = TaskFactory()
    with django_capture_on_commit_callbacks(execute=True):
        assert workflow.move(task, W.PENDING) is True
        assert workflow.move(task, W.PENDING) is False
        assert workflow.move(task, W.IN_PROGRESS) is True
        assert workflow.move(task, W.COMPLETED, output_text="done") is True
    task.refresh_from_db()
    assert task.workflow_status == W.COMPLETED and task.output_text == "done"
    assert task.workflow_started_at and task.workflow_completed_at
    assert task.workflow_completed_at >= task.workflow_started_at
    sent = [e["data"]["workflowStatus"] for e in recording.recorded]
    assert sent == ["PENDING", "IN_PROGRESS", "COMPLETED"]


def test_an_illegal_move_writes_nothing(db):
    task = TaskFactory(workflow_status=W.COMPLETED)
    with pytest.raises(workflow.IllegalTransition):
        workflow.move(task, W.IN_PROGRESS)
    task.refresh_from_db()
    assert task.workflow_status == W.COMPLETED


@pytest.mark.parametrize("current", list(RUN_TRANSITIONS))
@pytest.mark.parametrize("to", W.values)
def test_a_run_moves_only_along_its_table(db, current, to):
    run = TaskRunFactory(status=current)
    if not any(to in targets for targets in RUN_TRANSITIONS.values()):
        with pytest.raises(ValueError):
            TaskRun.objects.filter(pk=run.pk).transition(to)
        return
    moved = TaskRun.objects.filter(pk=run.pk).transition(to)
    assert moved == (1 if to in RUN_TRANSITIONS[current] else 0)


def test_an_ended_run_never_moves_again(db):
    run = TaskRunFactory(status=W.COMPLETED)
    assert TaskRun.objects.filter(pk=run.pk).transition(W.ERROR) == 0
    assert TaskRun.objects.get(pk=run.pk).status == W.COMPLETED


# PATCH workflowStatus goes through the machine.


def patch(api, task, status):
    return api("developer").patch(
        f"/api/tasks/{task.id}", {"workflowStatus": status}, format="json"
    )


def test_patch_to_a_move_the_table_lacks_is_a_409_naming_the_allowed_ones(api, workspace):
    task = TaskFactory(workspace=workspace, workflow_status=W.COMPLETED, title="Kept")
    body = assert_error(patch(api, task, "IN_PROGRESS"), 409, "ILLEGAL_TRANSITION")
    assert "COMPLETED to IN_PROGRESS" in body["error"]
    task.refresh_from_db()
    assert task.workflow_status == W.COMPLETED


def test_patch_cannot_queue_a_task(api, workspace):
    task = TaskFactory(workspace=workspace)
    body = assert_error(patch(api, task, "PENDING"), 409, "ILLEGAL_TRANSITION")
    assert "retry or a chat message" in body["error"]
    assert Task.objects.get(pk=task.pk).workflow_status is None


def test_patch_ending_a_task_whose_run_goes_on_is_refused_and_writes_nothing(api, workspace):
    task = TaskFactory(workspace=workspace, workflow_status=W.IN_PROGRESS, title="Old")
    TaskRunFactory(task=task, status=W.IN_PROGRESS)
    response = api("developer").patch(
        f"/api/tasks/{task.id}", {"title": "New", "workflowStatus": "COMPLETED"}, format="json"
    )
    assert_error(response, 409, "TASK_RUNNING")
    task.refresh_from_db()
    assert (task.title, task.workflow_status) == ("Old", W.IN_PROGRESS)


def test_patch_halted_halts_the_queued_run(api, workspace, django_capture_on_commit_callbacks):
    task = TaskFactory(workspace=workspace, workflow_status=W.PENDING)
    run = TaskRunFactory(task=task, status=W.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        data = expect(patch(api, task, "HALTED"), 200)["task"]
    assert data["workflowStatus"] == "HALTED"
    assert [r["status"] for r in data["runs"]] == ["HALTED"]
    run.refresh_from_db()
    assert run.status == W.HALTED and run.finished_at is not None


def test_deleting_a_queued_task_halts_its_run(api, workspace, django_capture_on_commit_callbacks):
    task = TaskFactory(workspace=workspace, workflow_status=W.PENDING)
    run = TaskRunFactory(task=task, status=W.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        expect(api("admin").delete(f"/api/tasks/{task.id}"), 204)
    run.refresh_from_db()
    assert run.status == W.HALTED


def test_console_states_and_aliases_come_from_one_table():
    for status, state in workflow.CONSOLE_STATES.items():
        assert status in workflow.CONSOLE_ALIASES[state]
    assert workflow.CONSOLE_ALIASES["failed"] == (W.FAILED, W.ERROR)
    assert workflow.CONSOLE_ALIASES["running"] == (W.IN_PROGRESS,)
