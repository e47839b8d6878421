"""The command and openai runners, run for real: subprocesses, and a fake
OpenAI-compatible server on 127.0.0.1."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chat.models import Artifact, ChatMessage
from runs.models import TaskLog
from runs.runners import HistoryMessage
from runs.services import queue_run
from runs.worker import history_of
from tests.factories import (
    RepositoryFactory,
    RobotFactory,
    RunnerProfileFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)


def lines_of(task):
    return list(TaskLog.objects.filter(task=task).values_list("stream", "line"))


def test_command_gets_the_prompt_on_stdin_and_answers_with_its_output(workspace):
    robot = RobotFactory(workspace=workspace, runner="command", config={"argv": ["cat"]})
    task = TaskFactory(workspace=workspace, robot=robot, prompt="line one\nline two")
    run = queue_run(task)
    run.refresh_from_db()
    task.refresh_from_db()
    assert run.status == "COMPLETED" and run.exit_code == 0
    assert ("stdout", "line one") in lines_of(task) and ("stdout", "line two") in lines_of(task)
    assert ChatMessage.objects.get(task=task).message == "line one\nline two"
    assert task.output_text == "line one\nline two"


def test_command_exit_code_stderr_cwd_and_profile_environment(workspace, checkout, monkeypatch):
    monkeypatch.setenv("WORKER_ONLY_VAR", "no")
    script = (
        "import os,sys; print(os.getcwd()); print(os.environ.get('WORKER_ONLY_VAR'));"
        "print(os.environ['FIXED']); print(os.environ['TOKEN']);"
        "print('bad', file=sys.stderr); sys.exit(3)"
    )
    profile = RunnerProfileFactory(
        argv=["python3", "-c", script], variables={"FIXED": "1"}, secrets={"TOKEN": "s3cr3t-value"}
    )
    robot = RobotFactory(workspace=workspace, runner="command", config={"profile": profile.name})
    repo = RepositoryFactory(workspace=workspace, checkout_path=str(checkout))
    task = TaskFactory(workspace=workspace, robot=robot, repository=repo)
    run = queue_run(task)
    run.refresh_from_db()
    out = lines_of(task)
    assert run.status == "FAILED" and run.exit_code == 3 and "code 3" in run.error
    # The checkout is the sandbox's /workspace; the worker's environment stays outside;
    # the profile's secret reaches the command but is masked in what is stored.
    for expected in ("/workspace", "None", "1", "****"):
        assert ("stdout", expected) in out
    assert ("stderr", "bad") in out
    assert "s3cr3t-value" not in str(out)


def test_command_env_allow_is_refused(workspace):
    robot = RobotFactory(
        workspace=workspace, runner="command", config={"argv": ["env"], "env_allow": ["HOME"]}
    )
    run = queue_run(TaskFactory(workspace=workspace, robot=robot))
    run.refresh_from_db()
    assert run.status == "FAILED" and "env_allow" in run.error


def test_command_is_never_a_shell_string(workspace):
    robot = RobotFactory(
        workspace=workspace, runner="command", config={"argv": "echo hi; rm -rf /"}
    )
    task = TaskFactory(workspace=workspace, robot=robot)
    run = queue_run(task)
    run.refresh_from_db()
    assert run.status == "FAILED" and "argv" in run.error


def test_command_time_limit(workspace):
    robot = RobotFactory(
        workspace=workspace,
        runner="command",
        config={"argv": ["sleep", "30"], "timeout_seconds": 0.5},
    )
    task = TaskFactory(workspace=workspace, robot=robot)
    run = queue_run(task)
    run.refresh_from_db()
    assert run.status == "FAILED" and "Time limit" in run.error


class FakeOpenAI(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenAI.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for word in ["Hello", ", ", "world"]:
            chunk = {"choices": [{"delta": {"content": word}, "index": 0}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_openai():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    FakeOpenAI.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_openai_runner_streams_the_answer_into_a_message(
    workspace, fake_openai, monkeypatch, settings
):
    settings.RUNNER_ALLOW_PRIVATE_URLS = True  # the fake server is on 127.0.0.1
    monkeypatch.setenv("FAKE_KEY", "sk-servervariable1234567890")
    profile = RunnerProfileFactory(
        runner="openai",
        argv=[],
        base_url=fake_openai,
        variables={"model": "small", "system": "Be brief."},
        secrets={"OPENAI_API_KEY": "sk-testkey1234567890abcdef"},
    )
    robot = RobotFactory(
        workspace=workspace, runner="openai", config={"profile": profile.name, "model": "tiny"}
    )
    task = TaskFactory(workspace=workspace, robot=robot, prompt="Say hello")
    ChatMessage.objects.create(task=task, role="USER", message="please")
    run = queue_run(task)
    run.refresh_from_db()
    assert run.status == "COMPLETED"
    assert ChatMessage.objects.filter(task=task, role="ASSISTANT").get().message == "Hello, world"
    sent = FakeOpenAI.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["auth"] == "Bearer sk-testkey1234567890abcdef"
    assert sent["body"]["stream"] is True and sent["body"]["model"] == "tiny"
    assert [m["role"] for m in sent["body"]["messages"]] == ["system", "user", "user"]
    assert "sk-testkey" not in "\n".join(line for _, line in lines_of(task))


def test_openai_runner_fails_when_the_api_is_unreachable(workspace, settings):
    settings.RUNNER_ALLOW_PRIVATE_URLS = True
    robot = RobotFactory(
        workspace=workspace,
        runner="openai",
        config={"base_url": "http://127.0.0.1:9/v1", "timeout_seconds": 2},
    )
    task = TaskFactory(workspace=workspace, robot=robot)
    run = queue_run(task)
    run.refresh_from_db()
    assert run.status == "FAILED" and "could not be reached" in run.error


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:{port}/v1",
        "http://localhost:{port}/v1",
        "http://10.0.0.1:{port}/v1",
        "http://169.254.169.254:{port}/v1",
        "http://[::1]:{port}/v1",
    ],
)
def test_openai_runner_refuses_a_private_base_url(workspace, fake_openai, base_url):
    port = fake_openai.rsplit(":", 1)[1].split("/")[0]
    url = base_url.format(port=port)
    profile = RunnerProfileFactory(
        runner="openai", argv=[], base_url=url, secrets={"OPENAI_API_KEY": "sk-profilekey123456789"}
    )
    robot = RobotFactory(workspace=workspace, runner="openai", config={"profile": profile.name})
    task = TaskFactory(workspace=workspace, robot=robot)
    run = queue_run(task)
    run.refresh_from_db()
    assert run.status == "FAILED" and "refused" in run.error
    assert FakeOpenAI.requests == []  # nothing reached the server on 127.0.0.1


def test_openai_runner_never_sends_a_server_variable(workspace, fake_openai, monkeypatch, settings):
    """The issue's leak: `api_key_env: DATABASE_URL` sent the server's variable as the
    bearer token. Such a robot (only staff could still store it) now fails before any
    request, and a profile without a key sends no Authorization at all."""
    settings.RUNNER_ALLOW_PRIVATE_URLS = True
    monkeypatch.setenv("DATABASE_URL_COPY", "postgres://user:pw@db/taskdesk")
    robot = RobotFactory(
        workspace=workspace,
        runner="openai",
        config={"base_url": fake_openai, "api_key_env": "DATABASE_URL_COPY"},
    )
    run = queue_run(TaskFactory(workspace=workspace, robot=robot))
    run.refresh_from_db()
    assert run.status == "FAILED" and "api_key_env" in run.error
    assert FakeOpenAI.requests == []
    profile = RunnerProfileFactory(runner="openai", argv=[], base_url=fake_openai)
    robot = RobotFactory(workspace=workspace, runner="openai", config={"profile": profile.name})
    run = queue_run(TaskFactory(workspace=workspace, robot=robot))
    run.refresh_from_db()
    assert run.status == "COMPLETED"
    assert [r["auth"] for r in FakeOpenAI.requests] == [None]


def test_openai_runner_calls_only_the_profiles_base_urls(workspace, fake_openai, settings):
    settings.RUNNER_ALLOW_PRIVATE_URLS = True
    settings.OPENAI_API_KEY = "sk-serverwidekey1234567890"
    # A staff robot aimed elsewhere than OPENAI_BASE_URL does not get the server's key.
    robot = RobotFactory(workspace=workspace, runner="openai", config={"base_url": fake_openai})
    run = queue_run(TaskFactory(workspace=workspace, robot=robot))
    run.refresh_from_db()
    assert run.status == "COMPLETED" and FakeOpenAI.requests[0]["auth"] is None


def test_a_runner_gets_the_thread_oldest_first_with_each_messages_artifacts_in_order(
    workspace, django_assert_num_queries
):
    task = TaskFactory(workspace=workspace)
    first = ChatMessage.objects.create(task=task, role="USER", message="one")
    asked = ChatMessage.objects.create(task=task, role="ASSISTANT", message="two")
    ChatMessage.objects.create(task=task, role="USER", message="three")
    Artifact.objects.create(message=asked, type="FORM", content={"q": 2}, position=1)
    Artifact.objects.create(message=asked, type="CODE", content={"q": 1}, position=0)
    Artifact.objects.create(message=first, type="CODE", content={"q": 0}, position=0)
    with django_assert_num_queries(1):
        history = history_of(task.pk)
    assert history == [
        HistoryMessage("USER", "one", [{"type": "CODE", "content": {"q": 0}}]),
        HistoryMessage(
            "ASSISTANT",
            "two",
            [{"type": "CODE", "content": {"q": 1}}, {"type": "FORM", "content": {"q": 2}}],
        ),
        HistoryMessage("USER", "three", []),
    ]
