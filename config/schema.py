"""drf-spectacular postprocessing hooks: every operation lists the error statuses it can
answer, each with the one envelope as its body (config.exceptions); and the schema is
the same on every database.

Model integer fields get their bounds from the connection (`integer_field_range`):
SQLite says 64-bit for all, PostgreSQL 16-bit for SmallIntegerField and 32-bit for
IntegerField. The committed
docs/openapi.yaml must not depend on where `make schema` ran, so bounds that are only
the column's storage limits are dropped (`format: int64` with them); bounds the API
chose itself (max_value in a serializer) stay.
"""

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
    # Any id or slug given (in the path, the query or the body) may name nothing the
    # caller can see.
    if "{" in path or has_input:
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
            require_body_with_required_fields(operation)
            for status in error_statuses(path, method, operation):
                operation["responses"].setdefault(
                    status, {"description": MEANING[status], "content": body}
                )
    return result


def require_body_with_required_fields(operation: dict[str, Any]) -> None:
    """A body given inline (not a serializer's component) whose schema has required
    fields is itself required: drf-spectacular cannot tell for a plain schema."""
    request = operation.get("requestBody")
    if not request or request.get("required"):
        return
    contents = request.get("content", {}).values()
    if any(content.get("schema", {}).get("required") for content in contents):
        request["required"] = True


STORAGE_LIMITS = {2**15 - 1, 2**31 - 1, 2**63 - 1}
STORAGE_FLOORS = {-(2**15), -(2**31), -(2**63)}


def drop_storage_bounds(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    _walk(result.get("components", {}).get("schemas", {}))
    return result


def _walk(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "integer":
            if node.get("maximum") in STORAGE_LIMITS:
                wide = node.pop("maximum") == 2**63 - 1
                if wide and node.get("format") == "int64":
                    node.pop("format")
            if node.get("minimum") in STORAGE_FLOORS:
                node.pop("minimum")
        for value in node.values():
            _walk(value)
    elif isinstance(node, list):
        for value in node:
            _walk(value)
