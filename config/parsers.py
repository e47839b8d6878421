"""The API's JSON parser: camelCase keys in as snake_case (djangorestframework-camel-case),
and JSON that no client sends refused as a 400 before anything walks it: nesting deeper
than JSON_MAX_DEPTH (a recursive walk of it was a RecursionError, a 500) and the
non-standard constants NaN and Infinity that Python's json would otherwise accept."""

import json
from typing import Any

from django.conf import settings
from djangorestframework_camel_case.parser import CamelCaseJSONParser
from djangorestframework_camel_case.util import underscoreize
from rest_framework.exceptions import ParseError

JSON_MAX_DEPTH = 64


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_depth(data: Any, limit: int = JSON_MAX_DEPTH) -> None:
    """Raises ParseError when `data` nests deeper than `limit` (an iterative walk)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                raise ParseError(f"JSON nested deeper than {limit} levels.")
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)


def loads(text: str | bytes) -> Any:
    """Strict JSON: ParseError (400) for bad JSON, NaN or Infinity, or deep nesting."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ParseError(f"JSON nested deeper than {JSON_MAX_DEPTH} levels.") from None
    except ValueError as error:
        raise ParseError(f"JSON parse error - {error}") from None
    check_depth(data)
    return data


class JSONParser(CamelCaseJSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None
        return underscoreize(loads(text), **self.json_underscoreize)
