"""The API's JSON renderer: snake_case keys out as camelCase, as
djangorestframework-camel-case does (same settings, same output), in one pass with each
key converted once per process. The library's renderer ran a regex on every key of every
row and recursed into every string; on a 50-row page that was a third of the request."""

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from django.utils.encoding import force_str
from django.utils.functional import Promise
from djangorestframework_camel_case.settings import api_settings
from djangorestframework_camel_case.util import camelize_re, underscore_to_camel
from rest_framework.renderers import JSONRenderer

_OPTIONS = api_settings.JSON_UNDERSCOREIZE
IGNORE_FIELDS = frozenset(_OPTIONS.get("ignore_fields") or ())
IGNORE_KEYS = frozenset(_OPTIONS.get("ignore_keys") or ())
_SCALARS = (str, int, float, bool, type(None))


@lru_cache(maxsize=4096)
def camel_key(key: str) -> str:
    new_key = camelize_re.sub(underscore_to_camel, key) if "_" in key else key
    return key if key in IGNORE_KEYS or new_key in IGNORE_KEYS else new_key


def camelize(data: Any) -> Any:
    if isinstance(data, _SCALARS):
        return data
    if isinstance(data, Promise):  # a lazily translated string
        return force_str(data)
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            new_key = camel_key(force_str(key)) if isinstance(key, str | Promise) else key
            ignored = key in IGNORE_FIELDS or new_key in IGNORE_FIELDS
            out[new_key] = value if ignored else camelize(value)
        return out
    if isinstance(data, Iterable) and not isinstance(data, bytes):
        return [camelize(item) for item in data]
    return data


class CamelCaseJSONRenderer(JSONRenderer):
    def render(self, data: Any, *args: Any, **kwargs: Any) -> bytes:
        return super().render(camelize(data), *args, **kwargs)
