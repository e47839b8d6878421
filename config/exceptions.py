"""The one error envelope of the API, and the typed exceptions that produce it.

Every error leaves as `{"success": false, "error", "code", "details"?}`: views raise,
this module answers. No view builds an error dict by hand.
"""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from djangorestframework_camel_case.util import camelize
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger("taskdesk.errors")


class ApiError(exceptions.APIException):
    """An error with its own code: raise `Conflict("TASK_RUNNING", "...")` and the like."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code = "BAD_REQUEST"

    def __init__(self, code: str | None = None, message: str | None = None):
        self.code = code or self.code
        super().__init__(detail=message or self.default_detail, code=self.code)


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    code = "CONFLICT"
    default_detail = "The request conflicts with the current state."


class Forbidden(ApiError):
    """A 403 with its own code: the caller may not do this, whatever its role."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "FORBIDDEN"
    default_detail = "You may not do this."


class PayloadTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "PAYLOAD_TOO_LARGE"
    default_detail = "The request is too large."


class Gone(ApiError):
    status_code = status.HTTP_410_GONE
    code = "GONE"
    default_detail = "This is no longer available."


class NotFoundError(ApiError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "NOT_FOUND"
    default_detail = "Not found."


def invalid(field: str, message: str) -> exceptions.ValidationError:
    """A validation error on one field, for rules checked outside a serializer."""
    return exceptions.ValidationError({field: [message]})


_CODES: dict[type[exceptions.APIException], tuple[str, str | None]] = {
    exceptions.ValidationError: ("VALIDATION_ERROR", "The request is not valid."),
    exceptions.ParseError: ("VALIDATION_ERROR", None),
    exceptions.NotAuthenticated: ("UNAUTHENTICATED", "Authentication is required."),
    exceptions.AuthenticationFailed: ("UNAUTHENTICATED", None),
    exceptions.PermissionDenied: ("FORBIDDEN", "Your role does not allow this."),
    exceptions.NotFound: ("NOT_FOUND", "Not found."),
    exceptions.MethodNotAllowed: ("METHOD_NOT_ALLOWED", None),
    exceptions.NotAcceptable: ("NOT_ACCEPTABLE", None),
    exceptions.UnsupportedMediaType: ("UNSUPPORTED_MEDIA_TYPE", None),
    exceptions.Throttled: ("THROTTLED", None),
}


def envelope(message: str, code: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "error": message, "code": code}
    if details is not None:
        body["details"] = details
    return body


def _validation_details(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {key: _messages(value) for key, value in detail.items()}
    return {"nonFieldErrors": _messages(detail)}


def _messages(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _messages(inner) for key, inner in value.items()}
    if isinstance(value, list):
        if all(isinstance(item, str) for item in value):
            return [str(item) for item in value]
        return [_messages(item) for item in value]
    return [str(value)]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(
            message=f"The request body may hold at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} "
            "bytes."
        )
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = exceptions.ParseError(str(exc))
    elif isinstance(exc, DjangoValidationError):
        # A model-level check (a bad date in a cursor, say) is bad input too.
        exc = exceptions.ValidationError(exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    request = context.get("request")
    if not isinstance(exc, exceptions.APIException):
        request_id = getattr(request, "request_id", None)
        logger.exception("Unexpected error (request %s)", request_id, exc_info=exc)
        set_rollback()
        body = envelope("An unexpected error occurred.", "INTERNAL_ERROR")
        body["requestId"] = request_id
        return Response(body, status=status.HTTP_500_INTERNAL_SERVER_ERROR)

    headers: dict[str, str] = {}
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        headers["Retry-After"] = str(max(1, int(wait)))
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        authenticate_header = getattr(exc, "auth_header", None)
        if authenticate_header:
            headers["WWW-Authenticate"] = authenticate_header

    if isinstance(exc, ApiError):
        code, message = exc.code, str(exc.detail)
    else:
        known = next((_CODES[k] for k in type(exc).__mro__ if k in _CODES), ("ERROR", None))
        code, default_message = known
        message = default_message or _first_message(exc.detail)

    details = (
        _validation_details(exc.detail) if isinstance(exc, exceptions.ValidationError) else None
    )
    if details:
        message = _summary(details) or message
    set_rollback()
    body = envelope(message, code, details)
    request_id = getattr(request, "request_id", None)
    if request_id:
        body["requestId"] = request_id  # what an operator greps the logs for
    return Response(body, status=exc.status_code, headers=headers)


def _first_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        return _first_message(next(iter(detail.values())))
    return str(detail)


def _summary(details: dict[str, Any]) -> str:
    field, messages = next(iter(details.items()))
    first = _first_message(messages)
    if field == "nonFieldErrors":
        return first
    return f"{next(iter(camelize({field: None})))}: {first}"


# Exempt: it changes nothing, and a POST to an unknown path is a 404, not a CSRF page.
@csrf_exempt
def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    body = envelope("Not found.", "NOT_FOUND")
    if getattr(request, "request_id", None):
        body["requestId"] = request.request_id  # type: ignore[attr-defined]
    return JsonResponse(body, status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    body = envelope("An unexpected error occurred.", "INTERNAL_ERROR")
    body["requestId"] = getattr(request, "request_id", None)
    return JsonResponse(body, status=500)
