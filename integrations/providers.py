"""GitHub's and GitLab's webhook payloads, read into one shape (`RepoEvent`).

Each provider function takes the event header and the parsed body and answers a
`Parsed`: the action it saw and, when Taskdesk acts on it, the event; `event` is None
for event types and actions it does not act on (recorded as ignored).
"""

from dataclasses import dataclass
from typing import Any

from tasks.models import GroupKind

ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class PullRequestState:
    url: str
    number: int
    status: str  # open | merged | closed | draft


@dataclass(frozen=True)
class RepoEvent:
    name: str  # issue.opened, merge_request.merged, push, ... (robot trigger rules use it)
    kind: str  # GroupKind: issue | merge_request | commit
    number: str  # the group's binding key: "#12", "!7", or a commit sha
    title: str
    text: str = ""  # what a robot is addressed in (`@robot-name`)
    labels: tuple[str, ...] = ()
    branch: str = ""
    pull_request: PullRequestState | None = None
    # A CI result for the pull request `number`: (check name, conclusion) pairs.
    checks: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Parsed:
    action: str
    event: RepoEvent | None = None
    reason: str = ""


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _text(*parts: Any) -> str:
    return "\n\n".join(p for p in (_s(part).strip() for part in parts) if p)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def ignored(action: str, reason: str) -> Parsed:
    return Parsed(action=action, reason=reason)


# -- GitHub ---------------------------------------------------------------------------------

GITHUB_PR_ACTIONS = {
    "opened": "opened",
    "synchronize": "synchronized",
    "closed": "closed",
    "reopened": "reopened",
}


def _github_labels(item: dict[str, Any]) -> tuple[str, ...]:
    return tuple(_s(_d(label).get("name")) for label in item.get("labels") or [])


def _github_pr_state(pr: dict[str, Any]) -> PullRequestState:
    if pr.get("merged") or pr.get("merged_at"):
        status = "merged"
    elif pr.get("state") == "closed":
        status = "closed"
    elif pr.get("draft"):
        status = "draft"
    else:
        status = "open"
    return PullRequestState(url=_s(pr.get("html_url")), number=int(pr["number"]), status=status)


def github(event: str, body: dict[str, Any]) -> Parsed:
    action = _s(body.get("action"))
    handler = _GITHUB.get(event)
    if handler is None:
        return ignored(action, f"GitHub event {event!r} is not one Taskdesk acts on.")
    try:
        return handler(action, body)
    except (KeyError, TypeError, ValueError) as error:
        return ignored(action, f"Unexpected {event} payload: {error!r}.")


def _github_issues(action: str, body: dict[str, Any]) -> Parsed:
    if action not in ("opened", "edited"):
        return ignored(action, f"issues {action}: not acted on.")
    issue = _d(body["issue"])
    title = _s(issue.get("title"))
    return Parsed(
        action,
        RepoEvent(
            name=f"issue.{action}",
            kind=GroupKind.ISSUE,
            number=f"#{int(issue['number'])}",
            title=title,
            text=_text(title, issue.get("body")),
            labels=_github_labels(issue),
        ),
    )


def _github_issue_comment(action: str, body: dict[str, Any]) -> Parsed:
    if action != "created":
        return ignored(action, f"issue_comment {action}: not acted on.")
    issue = _d(body["issue"])
    on_pr = bool(issue.get("pull_request"))
    number = int(issue["number"])
    return Parsed(
        action,
        RepoEvent(
            name="merge_request.comment" if on_pr else "issue.comment",
            kind=GroupKind.MERGE_REQUEST if on_pr else GroupKind.ISSUE,
            number=f"!{number}" if on_pr else f"#{number}",
            title=_s(issue.get("title")),
            text=_text(_d(body["comment"]).get("body")),
            labels=_github_labels(issue),
        ),
    )


def _github_pull_request(action: str, body: dict[str, Any]) -> Parsed:
    if action not in GITHUB_PR_ACTIONS:
        return ignored(action, f"pull_request {action}: not acted on.")
    pr = _d(body["pull_request"])
    state = _github_pr_state(pr)
    name = GITHUB_PR_ACTIONS[action]
    if action == "closed" and state.status == "merged":
        name = "merged"
    title = _s(pr.get("title"))
    return Parsed(
        action,
        RepoEvent(
            name=f"merge_request.{name}",
            kind=GroupKind.MERGE_REQUEST,
            number=f"!{state.number}",
            title=title,
            text=_text(title, pr.get("body")) if action == "opened" else "",
            labels=_github_labels(pr),
            branch=_s(_d(pr.get("head")).get("ref")),
            pull_request=state,
        ),
    )


def _github_review_comment(action: str, body: dict[str, Any]) -> Parsed:
    text_of = "comment" if "comment" in body else "review"
    wanted = "created" if text_of == "comment" else "submitted"
    if action != wanted:
        return ignored(action, f"review {action}: not acted on.")
    pr = _d(body["pull_request"])
    return Parsed(
        action,
        RepoEvent(
            name="merge_request.comment",
            kind=GroupKind.MERGE_REQUEST,
            number=f"!{int(pr['number'])}",
            title=_s(pr.get("title")),
            text=_text(_d(body[text_of]).get("body")),
            labels=_github_labels(pr),
            branch=_s(_d(pr.get("head")).get("ref")),
        ),
    )


def _github_push(action: str, body: dict[str, Any]) -> Parsed:
    after = _s(body.get("after"))
    ref = _s(body.get("ref"))
    if body.get("deleted") or not after or after == ZERO_SHA:
        return ignored("push", f"{ref} deleted: nothing to build.")
    if not ref.startswith("refs/heads/"):
        return ignored("push", f"{ref}: not a branch.")
    message = _s(_d(body.get("head_commit")).get("message"))
    return Parsed(
        "push",
        RepoEvent(
            name="push",
            kind=GroupKind.COMMIT,
            number=after,
            title=_first_line(message) or after[:12],
            text=message,
            branch=ref.removeprefix("refs/heads/"),
        ),
    )


def _github_commit_comment(action: str, body: dict[str, Any]) -> Parsed:
    comment = _d(body["comment"])
    sha = _s(comment.get("commit_id"))
    return Parsed(
        action or "created",
        RepoEvent(
            name="commit.comment",
            kind=GroupKind.COMMIT,
            number=sha,
            title=sha[:12],
            text=_text(comment.get("body")),
        ),
    )


def _github_check_run(action: str, body: dict[str, Any]) -> Parsed:
    if action != "completed":
        return ignored(action, f"check_run {action}: only completed runs are recorded.")
    run = _d(body["check_run"])
    pulls = [_d(pr) for pr in run.get("pull_requests") or []]
    if not pulls:
        return ignored(action, "A check run of no pull request.")
    number = int(pulls[0]["number"])
    conclusion = _s(run.get("conclusion")) or _s(run.get("status"))
    return Parsed(
        action,
        RepoEvent(
            name="merge_request.checks",
            kind=GroupKind.MERGE_REQUEST,
            number=f"!{number}",
            title="",
            branch=_s(_d(_d(pulls[0]).get("head")).get("ref")),
            checks=((_s(run.get("name")) or "check", conclusion),),
        ),
    )


_GITHUB = {
    "issues": _github_issues,
    "issue_comment": _github_issue_comment,
    "pull_request": _github_pull_request,
    "pull_request_review_comment": _github_review_comment,
    "pull_request_review": _github_review_comment,
    "push": _github_push,
    "commit_comment": _github_commit_comment,
    "check_run": _github_check_run,
}


# -- GitLab ---------------------------------------------------------------------------------

GITLAB_ISSUE_ACTIONS = {"open": "opened", "update": "edited"}
GITLAB_MR_ACTIONS = {
    "open": "opened",
    "update": "synchronized",
    "close": "closed",
    "reopen": "reopened",
    "merge": "merged",
}


def _gitlab_labels(body: dict[str, Any]) -> tuple[str, ...]:
    return tuple(_s(_d(label).get("title")) for label in body.get("labels") or [])


def _gitlab_mr_state(attributes: dict[str, Any]) -> PullRequestState:
    state = _s(attributes.get("state"))
    if state == "merged":
        status = "merged"
    elif state in ("closed", "locked"):
        status = "closed"
    elif attributes.get("draft") or attributes.get("work_in_progress"):
        status = "draft"
    else:
        status = "open"
    return PullRequestState(
        url=_s(attributes.get("url")), number=int(attributes["iid"]), status=status
    )


def gitlab(event: str, body: dict[str, Any]) -> Parsed:
    kind = _s(body.get("object_kind")) or _s(body.get("event_name"))
    action = _s(_d(body.get("object_attributes")).get("action")) or kind
    handler = _GITLAB.get(kind)
    if handler is None:
        return ignored(action, f"GitLab event {event or kind!r} is not one Taskdesk acts on.")
    try:
        return handler(action, body)
    except (KeyError, TypeError, ValueError) as error:
        return ignored(action, f"Unexpected {kind} payload: {error!r}.")


def _gitlab_issue(action: str, body: dict[str, Any]) -> Parsed:
    if action not in GITLAB_ISSUE_ACTIONS:
        return ignored(action, f"issue {action}: not acted on.")
    attributes = _d(body["object_attributes"])
    title = _s(attributes.get("title"))
    return Parsed(
        action,
        RepoEvent(
            name=f"issue.{GITLAB_ISSUE_ACTIONS[action]}",
            kind=GroupKind.ISSUE,
            number=f"#{int(attributes['iid'])}",
            title=title,
            text=_text(title, attributes.get("description")),
            labels=_gitlab_labels(body),
        ),
    )


def _gitlab_merge_request(action: str, body: dict[str, Any]) -> Parsed:
    if action not in GITLAB_MR_ACTIONS:
        return ignored(action, f"merge_request {action}: not acted on.")
    attributes = _d(body["object_attributes"])
    state = _gitlab_mr_state(attributes)
    name = GITLAB_MR_ACTIONS[action]
    if action == "update" and not attributes.get("oldrev"):
        name = "edited"  # a title, label or draft change, not new commits
    title = _s(attributes.get("title"))
    return Parsed(
        action,
        RepoEvent(
            name=f"merge_request.{name}",
            kind=GroupKind.MERGE_REQUEST,
            number=f"!{state.number}",
            title=title,
            text=_text(title, attributes.get("description")) if action == "open" else "",
            labels=_gitlab_labels(body),
            branch=_s(attributes.get("source_branch")),
            pull_request=state,
        ),
    )


def _gitlab_note(action: str, body: dict[str, Any]) -> Parsed:
    attributes = _d(body["object_attributes"])
    noteable = _s(attributes.get("noteable_type"))
    text = _text(attributes.get("note"))
    if noteable == "Issue":
        issue = _d(body["issue"])
        event = RepoEvent(
            name="issue.comment",
            kind=GroupKind.ISSUE,
            number=f"#{int(issue['iid'])}",
            title=_s(issue.get("title")),
            text=text,
            labels=tuple(_s(_d(label).get("title")) for label in issue.get("labels") or []),
        )
    elif noteable == "MergeRequest":
        mr = _d(body["merge_request"])
        event = RepoEvent(
            name="merge_request.comment",
            kind=GroupKind.MERGE_REQUEST,
            number=f"!{int(mr['iid'])}",
            title=_s(mr.get("title")),
            text=text,
            labels=tuple(_s(_d(label).get("title")) for label in mr.get("labels") or []),
            branch=_s(mr.get("source_branch")),
        )
    elif noteable == "Commit":
        sha = _s(_d(body["commit"]).get("id"))
        event = RepoEvent(
            name="commit.comment", kind=GroupKind.COMMIT, number=sha, title=sha[:12], text=text
        )
    else:
        return ignored("note", f"A note on a {noteable or 'snippet'}: not acted on.")
    return Parsed("note", event)


def _gitlab_push(action: str, body: dict[str, Any]) -> Parsed:
    after = _s(body.get("after")) or _s(body.get("checkout_sha"))
    ref = _s(body.get("ref"))
    if not after or after == ZERO_SHA:
        return ignored("push", f"{ref} deleted: nothing to build.")
    commits = [_d(c) for c in body.get("commits") or []]
    head = next((c for c in commits if c.get("id") == after), commits[-1] if commits else {})
    message = _s(head.get("message"))
    return Parsed(
        "push",
        RepoEvent(
            name="push",
            kind=GroupKind.COMMIT,
            number=after,
            title=_first_line(message) or after[:12],
            text=message,
            branch=ref.removeprefix("refs/heads/"),
        ),
    )


PIPELINE_DONE = ("success", "failed", "canceled", "skipped")


def _gitlab_pipeline(action: str, body: dict[str, Any]) -> Parsed:
    attributes = _d(body["object_attributes"])
    status = _s(attributes.get("status"))
    mr = _d(body.get("merge_request"))
    if status not in PIPELINE_DONE:
        return ignored(status, f"pipeline {status}: only finished pipelines are recorded.")
    if not mr.get("iid"):
        return ignored(status, "A pipeline of no merge request.")
    return Parsed(
        status,
        RepoEvent(
            name="merge_request.checks",
            kind=GroupKind.MERGE_REQUEST,
            number=f"!{int(mr['iid'])}",
            title=_s(mr.get("title")),
            branch=_s(mr.get("source_branch")),
            checks=(("pipeline", status),),
        ),
    )


_GITLAB = {
    "issue": _gitlab_issue,
    "merge_request": _gitlab_merge_request,
    "note": _gitlab_note,
    "push": _gitlab_push,
    "pipeline": _gitlab_pipeline,
}

PROVIDERS = {"github": github, "gitlab": gitlab}
