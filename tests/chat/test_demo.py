"""seed_demo's conversations."""

from io import StringIO

import pytest
from django.core.management import call_command

from chat.demo import seed_conversations
from chat.models import Artifact, ArtifactType, ChatMessage
from runs.models import TaskRun
from tasks.models import Task, WorkflowStatus
from tests.factories import TaskFactory


def test_seed_demo_adds_conversations_with_one_task_waiting_on_a_form(db):
    call_command("seed_demo", stdout=StringIO())
    tasks = Task.objects.filter(workspace__slug="demo")
    waiting = tasks.get(awaiting_input=True)
    assert waiting.workflow_status in (WorkflowStatus.PENDING, WorkflowStatus.IN_PROGRESS)
    newest_assistant = waiting.chat_messages.filter(role="ASSISTANT").last()
    form = newest_assistant.artifacts.get()
    assert (form.type, form.answered_at) == (ArtifactType.FORM, None)
    for task in tasks:
        assert task.message_count == task.chat_messages.count()
    assert ChatMessage.objects.count() == 5
    assert not TaskRun.objects.exists()  # history only: no runs queued by the demo


def test_seed_demo_twice_adds_no_second_conversation(db):
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    assert ChatMessage.objects.count() == 5
    assert Artifact.objects.filter(type=ArtifactType.FORM).count() == 1


def test_conversations_go_to_the_given_tasks_and_the_form_to_a_running_one(workspace, people):
    idle = TaskFactory(workspace=workspace, workflow_status=WorkflowStatus.COMPLETED)
    running = TaskFactory(workspace=workspace, workflow_status=WorkflowStatus.IN_PROGRESS)
    seed_conversations(workspace, people["owner"], tasks=[running, idle])
    running.refresh_from_db()
    idle.refresh_from_db()
    assert running.awaiting_input is True
    assert running.workflow_status == WorkflowStatus.IN_PROGRESS
    assert idle.awaiting_input is False
    assert idle.workflow_status == WorkflowStatus.COMPLETED
    assert (idle.message_count, running.message_count) == (3, 2)


def test_conversations_need_two_tasks(workspace, people):
    with pytest.raises(ValueError, match="two tasks"):
        seed_conversations(workspace, people["owner"], tasks=[TaskFactory(workspace=workspace)])
