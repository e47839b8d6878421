"""Webhook bodies in the shapes GitHub and GitLab document (trimmed to the fields a
receiver reads, with their documented names and nesting), and the headers they send.

GitHub: docs.github.com/en/webhooks/webhook-events-and-payloads (issues, issue_comment,
pull_request, pull_request_review_comment, push). GitLab:
docs.gitlab.com/user/project/integrations/webhook_events (Issue Hook, Note Hook, Merge
Request Hook, Push Hook).
"""

import hashlib
import hmac
import json
import uuid
from typing import Any

REPO = {
    "id": 1296269,
    "name": "Hello-World",
    "full_name": "octocat/Hello-World",
    "html_url": "https://github.com/octocat/Hello-World",
    "default_branch": "main",
}
SENDER = {"login": "octocat", "id": 1, "type": "User"}
SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
SHA_BEFORE = "b4b1f7f5a1b2c3d4e5f60718293a4b5c6d7e8f90"


def gh_issue(number: int = 1347, body: str = "I'm having a problem with this.", **extra: Any):
    return {
        "id": 1,
        "number": number,
        "html_url": f"https://github.com/octocat/Hello-World/issues/{number}",
        "title": "Found a bug",
        "user": SENDER,
        "labels": [{"id": 208045946, "name": "bug", "color": "f29513"}],
        "state": "open",
        "body": body,
        **extra,
    }


def gh_issues(action: str = "opened", **issue: Any) -> dict[str, Any]:
    return {"action": action, "issue": gh_issue(**issue), "repository": REPO, "sender": SENDER}


def gh_issue_comment(text: str, *, on_pull_request: bool = False, number: int = 1347):
    extra = (
        {
            "pull_request": {
                "url": f"https://api.github.com/repos/octocat/Hello-World/pulls/{number}"
            }
        }
        if on_pull_request
        else {}
    )
    return {
        "action": "created",
        "issue": gh_issue(number=number, **extra),
        "comment": {"id": 1, "body": text, "user": SENDER},
        "repository": REPO,
        "sender": SENDER,
    }


def gh_pr(
    number: int = 2,
    *,
    state: str = "open",
    merged: bool = False,
    draft: bool = False,
    body: str = "Please pull these awesome changes",
    branch: str = "new-topic",
):
    return {
        "url": f"https://api.github.com/repos/octocat/Hello-World/pulls/{number}",
        "id": 279147437,
        "html_url": f"https://github.com/octocat/Hello-World/pull/{number}",
        "number": number,
        "state": state,
        "title": "Amazing new feature",
        "user": SENDER,
        "body": body,
        "labels": [],
        "draft": draft,
        "merged": merged,
        "merged_at": "2026-11-30T10:00:00Z" if merged else None,
        "head": {"label": f"octocat:{branch}", "ref": branch, "sha": SHA},
        "base": {"label": "octocat:main", "ref": "main", "sha": SHA_BEFORE},
    }


def gh_pull_request(action: str = "opened", **pr: Any) -> dict[str, Any]:
    return {
        "action": action,
        "number": pr.get("number", 2),
        "pull_request": gh_pr(**pr),
        "repository": REPO,
        "sender": SENDER,
    }


def gh_review_comment(text: str, number: int = 2) -> dict[str, Any]:
    return {
        "action": "created",
        "comment": {"id": 1, "body": text, "path": "file1.txt", "commit_id": SHA, "user": SENDER},
        "pull_request": gh_pr(number),
        "repository": REPO,
        "sender": SENDER,
    }


def gh_review(text: str, number: int = 2) -> dict[str, Any]:
    return {
        "action": "submitted",
        "review": {"id": 80, "body": text, "state": "commented", "commit_id": SHA, "user": SENDER},
        "pull_request": gh_pr(number),
        "repository": REPO,
        "sender": SENDER,
    }


def gh_commit_comment(text: str, sha: str = SHA) -> dict[str, Any]:
    return {
        "action": "created",
        "comment": {"id": 33548674, "body": text, "commit_id": sha, "path": None, "user": SENDER},
        "repository": REPO,
        "sender": SENDER,
    }


def gh_push(message: str = "Update README.md", *, ref: str = "refs/heads/main", after: str = SHA):
    commit = {
        "id": after,
        "message": message,
        "timestamp": "2026-11-30T10:00:00Z",
        "author": {"name": "Monalisa Octocat", "email": "octocat@github.com"},
        "added": [],
        "removed": [],
        "modified": ["README.md"],
    }
    return {
        "ref": ref,
        "before": SHA_BEFORE,
        "after": after,
        "created": False,
        "deleted": False,
        "forced": False,
        "commits": [commit],
        "head_commit": commit,
        "pusher": {"name": "octocat", "email": "octocat@github.com"},
        "repository": REPO,
        "sender": SENDER,
    }


def gh_check_run(conclusion: str = "failure", *, action: str = "completed", number: int = 2):
    return {
        "action": action,
        "check_run": {
            "id": 128620228,
            "head_sha": SHA,
            "status": "completed" if action == "completed" else "in_progress",
            "conclusion": conclusion if action == "completed" else None,
            "name": "Octocoders-linter",
            "pull_requests": [
                {
                    "url": f"https://api.github.com/repos/octocat/Hello-World/pulls/{number}",
                    "id": 279147437,
                    "number": number,
                    "head": {"ref": "new-topic", "sha": SHA},
                    "base": {"ref": "main", "sha": SHA_BEFORE},
                }
            ],
        },
        "repository": REPO,
        "sender": SENDER,
    }


def github_headers(secret: str, body: bytes, event: str, delivery: str | None = None):
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "HTTP_X_GITHUB_EVENT": event,
        "HTTP_X_GITHUB_DELIVERY": delivery or str(uuid.uuid4()),
        "HTTP_X_HUB_SIGNATURE_256": f"sha256={digest}",
        "HTTP_USER_AGENT": "GitHub-Hookshot/044aadd",
    }


# -- GitLab ---------------------------------------------------------------------------------

GL_PROJECT = {
    "id": 1,
    "name": "Gitlab Test",
    "web_url": "http://example.com/gitlabhq/gitlab-test",
    "path_with_namespace": "gitlabhq/gitlab-test",
    "default_branch": "master",
}
GL_USER = {"id": 1, "name": "Administrator", "username": "root"}
GL_LABELS = [{"id": 206, "title": "API", "color": "#ffffff", "type": "ProjectLabel"}]


def gl_issue(
    action: str = "open",
    *,
    iid: int = 23,
    description: str = "Create new API for manipulations with repository",
):
    return {
        "object_kind": "issue",
        "event_type": "issue",
        "user": GL_USER,
        "project": GL_PROJECT,
        "object_attributes": {
            "id": 301,
            "iid": iid,
            "title": "New API: create/update/delete file",
            "description": description,
            "state": "opened",
            "url": f"http://example.com/diaspora/issues/{iid}",
            "action": action,
        },
        "labels": GL_LABELS,
    }


def gl_merge_request(
    action: str = "open",
    *,
    iid: int = 1,
    state: str = "opened",
    description: str = "Merge request description",
    oldrev: str | None = None,
    draft: bool = False,
):
    attributes: dict[str, Any] = {
        "id": 99,
        "iid": iid,
        "target_branch": "master",
        "source_branch": "ms-viewport",
        "title": "MS-Viewport",
        "description": description,
        "state": state,
        "draft": draft,
        "work_in_progress": draft,
        "url": f"http://example.com/diaspora/merge_requests/{iid}",
        "last_commit": {"id": SHA, "message": "fixed readme"},
        "action": action,
    }
    if oldrev:
        attributes["oldrev"] = oldrev
    return {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": GL_USER,
        "project": GL_PROJECT,
        "object_attributes": attributes,
        "labels": GL_LABELS,
    }


def gl_note(text: str, noteable: str = "Issue") -> dict[str, Any]:
    body: dict[str, Any] = {
        "object_kind": "note",
        "event_type": "note",
        "user": GL_USER,
        "project": GL_PROJECT,
        "object_attributes": {
            "id": 1241,
            "note": text,
            "noteable_type": noteable,
            "url": "http://example.com/gitlab-org/gitlab-test/issues/17#note_1241",
        },
    }
    if noteable == "Issue":
        body["issue"] = {"id": 92, "iid": 17, "title": "test", "labels": GL_LABELS}
    elif noteable == "MergeRequest":
        body["merge_request"] = {
            "id": 7,
            "iid": 1,
            "title": "Tempora et eos debitis quae laborum et.",
            "source_branch": "tutorial",
            "target_branch": "master",
            "labels": [],
        }
    elif noteable == "Commit":
        body["commit"] = {"id": SHA, "message": "Added a file"}
    return body


def gl_push(message: str = "Update Catalan translation to e38cb41.", *, after: str = SHA):
    return {
        "object_kind": "push",
        "event_name": "push",
        "before": SHA_BEFORE,
        "after": after,
        "ref": "refs/heads/master",
        "checkout_sha": after,
        "user_username": "jsmith",
        "project": GL_PROJECT,
        "commits": [
            {
                "id": after,
                "message": message,
                "timestamp": "2026-11-30T10:00:00Z",
                "author": {"name": "Jordi Mallach", "email": "jordi@softcatala.org"},
            },
        ],
        "total_commits_count": 1,
    }


def gl_pipeline(status: str = "success", *, iid: int | None = 1):
    return {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": 31,
            "ref": "ms-viewport",
            "sha": SHA,
            "source": "merge_request_event",
            "status": status,
            "stages": ["build", "test", "deploy"],
            "duration": 63,
        },
        "merge_request": (
            {
                "id": 1,
                "iid": iid,
                "title": "MS-Viewport",
                "source_branch": "ms-viewport",
                "target_branch": "master",
                "state": "opened",
                "url": f"http://example.com/diaspora/merge_requests/{iid}",
            }
            if iid
            else None
        ),
        "user": GL_USER,
        "project": GL_PROJECT,
        "builds": [],
    }


GITLAB_EVENTS = {
    "issue": "Issue Hook",
    "merge_request": "Merge Request Hook",
    "note": "Note Hook",
    "push": "Push Hook",
    "pipeline": "Pipeline Hook",
}


def gitlab_headers(token: str, body: dict[str, Any], delivery: str | None = None):
    return {
        "HTTP_X_GITLAB_EVENT": GITLAB_EVENTS.get(body.get("object_kind", ""), "System Hook"),
        "HTTP_X_GITLAB_EVENT_UUID": delivery or str(uuid.uuid4()),
        "HTTP_X_GITLAB_TOKEN": token,
        "HTTP_X_GITLAB_INSTANCE": "https://gitlab.example.com",
    }


def encode(body: Any) -> bytes:
    return json.dumps(body).encode()
