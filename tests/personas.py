"""What each persona gets from an endpoint, and the envelope checks every app's tests share."""

from typing import Any

PERSONAS = ("owner", "admin", "developer", "viewer", "outsider", "anonymous")


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the contract's error envelope with this status and code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    return body


# The status each persona gets, by the least role an action needs.
READ = {
    "owner": 200,
    "admin": 200,
    "developer": 200,
    "viewer": 200,
    "outsider": 404,
    "anonymous": 401,
}
WRITE = {
    "owner": 200,
    "admin": 200,
    "developer": 200,
    "viewer": 403,
    "outsider": 404,
    "anonymous": 401,
}
MANAGE = {
    "owner": 200,
    "admin": 200,
    "developer": 403,
    "viewer": 403,
    "outsider": 404,
    "anonymous": 401,
}
ERROR_CODES = {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND"}


def expect(response: Any, status: int) -> Any:
    """Asserts the status; for errors, also the envelope and the code that goes with it."""
    if status >= 400:
        return assert_error(response, status, ERROR_CODES[status])
    assert response.status_code == status, response.content
    return response.json() if response.content else None
