"""The OpenAPI schema's error side: every operation lists the error statuses it can
answer, each with the one envelope as its body (config.exceptions)."""

from typing import Any

ERROR = {
    "type": "object",
    "description": "The error envelope of every failure.",
    "required": ["success", "error", "code"],
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "error": {"type": "string", "description": "A sentence for people."},
        "code": {"type": "string", "description": "UPPER_SNAKE, for programs."},
        "details": {
            "type": "object",
            "description": "VALIDATION_ERROR only: the sentences of each field.",
            "additionalProperties": {},
        },
        "requestId": {"type": "string", "description": "INTERNAL_ERROR only."},
    },
}
MEANING = {
    "400": "VALIDATION_ERROR: a bad body or query (an unknown enum value lists the allowed).",
    "401": "UNAUTHENTICATED: no, or a wrong, revoked or expired credential.",
    "403": "FORBIDDEN: a member whose role may not do this.",
    "404": "NOT_FOUND: no such row, a malformed id, or a workspace the caller is not in.",
    "405": "METHOD_NOT_ALLOWED.",
    "409": "A conflict with the current state; the code names it (docs/API.md).",
    "413": "PAYLOAD_TOO_LARGE.",
    "429": "THROTTLED, with Retry-After.",
}
# Operations whose conflicts the contract names (docs/API.md).
CONFLICTS = {
    "tasks_update",
    "tasks_retry",
    "tasks_halt",
    "chat_execute",
    "workspace_members_add",
    "workspace_members_update",
    "workspace_members_remove",
}


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["401", "429"]
    has_input = bool(operation.get("parameters")) or "requestBody" in operation
    if has_input or method in ("post", "patch", "put"):
        statuses.append("400")
    if method != "get":
        statuses.append("403")
    if "{" in path or any(
        p.get("name") in ("workspaceId", "workspace", "repoId")
        for p in operation.get("parameters", [])
    ):
        statuses.append("404")
    if method in ("post", "patch", "put"):
        statuses.append("413")
    if operation.get("operationId") in CONFLICTS:
        statuses.append("409")
    return sorted(statuses)


def add_error_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status in error_statuses(path, method, operation):
                operation["responses"].setdefault(
                    status, {"description": MEANING[status], "content": body}
                )
    return result
