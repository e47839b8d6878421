"""The API's JSON renderer: snake_case keys out as camelCase, as
djangorestframework-camel-case does (same settings, same output), in one pass with each
key converted once per process, then encoded by orjson with exactly the bytes of DRF's
JSONRenderer.

The library's renderer ran a regex on every key of every row and recursed into every
string; on a 50-row page that was a third of the request. The stdlib encoder that DRF
drives was the next cost: orjson writes the same compact, non-ASCII-escaping JSON many
times faster. Where the two could differ, this renderer does not guess and hands the data
to DRF's own path: an `indent` asked for, a float that the stdlib writes in exponent form
(or NaN/infinity, which DRF refuses), an integer beyond 64 bits, a non-string key, a lone
surrogate. Values orjson does not know (datetimes, decimals, lazy objects...) go through
DRF's encoder, as they would under DRF."""

import math
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import orjson
from django.utils.encoding import force_str
from django.utils.functional import Promise
from djangorestframework_camel_case.settings import api_settings
from djangorestframework_camel_case.util import camelize_re, underscore_to_camel
from rest_framework.renderers import JSONRenderer

_OPTIONS = api_settings.JSON_UNDERSCOREIZE
IGNORE_FIELDS = frozenset(_OPTIONS.get("ignore_fields") or ())
IGNORE_KEYS = frozenset(_OPTIONS.get("ignore_keys") or ())
_SCALARS = (str, int, float, bool, type(None))
_PLAIN = frozenset((str, int, bool, type(None)))
# Datetimes and dataclasses go to DRF's encoder (orjson would write its own format);
# orjson writes UUIDs as str() does, as DRF's encoder does.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# The stdlib writes these two line separators raw; DRF escapes them after (JSONRenderer).
_LINE_SEPARATORS = ("\u2028".encode(), b"\\u2028"), ("\u2029".encode(), b"\\u2029")


@lru_cache(maxsize=4096)
def camel_key(key: str) -> str:
    new_key = camelize_re.sub(underscore_to_camel, key) if "_" in key else key
    return key if key in IGNORE_KEYS or new_key in IGNORE_KEYS else new_key


@lru_cache(maxsize=4096)
def _key_plan(key: str) -> tuple[str, bool]:
    """The key's camelCase form, and whether its value is left as it is."""
    new_key = camel_key(key)
    return new_key, key in IGNORE_FIELDS or new_key in IGNORE_FIELDS


def camelize(data: Any, odd: list[Any] | None = None) -> Any:
    """`data` with camelCase keys; floats that orjson would write differently from the
    stdlib are appended to `odd` when it is given. Strings, ints, booleans and None are
    taken as they are without a call: most values of a page are."""
    if type(data) in _PLAIN:
        return data
    if isinstance(data, _SCALARS):
        if odd is not None and isinstance(data, float) and not _plain_float(data):
            odd.append(data)
        return data
    if isinstance(data, Promise):  # a lazily translated string
        return force_str(data)
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if type(key) is str:
                new_key, ignored = _key_plan(key)
            elif isinstance(key, str | Promise):
                new_key, ignored = _key_plan(force_str(key))
            else:
                new_key, ignored = key, key in IGNORE_FIELDS
            if ignored:
                if odd is not None:
                    camelize(value, odd)  # only to look for odd floats
                out[new_key] = value
            else:
                out[new_key] = value if type(value) in _PLAIN else camelize(value, odd)
        return out
    if isinstance(data, list | tuple) or (
        isinstance(data, Iterable) and not isinstance(data, bytes)
    ):
        return [item if type(item) in _PLAIN else camelize(item, odd) for item in data]
    return data


def _plain_float(value: float) -> bool:
    """The stdlib writes repr(); orjson agrees on every finite float that repr() writes
    without an exponent (tests/config/test_renderers.py), not on 1e-05 ("0.00001")."""
    return math.isfinite(value) and "e" not in repr(value)


class CamelCaseJSONRenderer(JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        odd: list[Any] = []
        data = camelize(data, odd)
        indent = self.get_indent(accepted_media_type or "", renderer_context or {})
        if data is None or indent or odd:
            return super().render(data, accepted_media_type, renderer_context)
        default = self.encoder_class().default

        def encode_unknown(value: Any) -> Any:
            encoded = default(value)  # e.g. a datetime, a Decimal: DRF's encoder decides
            if isinstance(encoded, float) and not _plain_float(encoded):
                raise TypeError("a float the stdlib writes otherwise")
            return encoded

        try:
            body = orjson.dumps(data, default=encode_unknown, option=_ORJSON_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError: a big int, a non-str key, a surrogate
            return super().render(data, accepted_media_type, renderer_context)
        for raw, escaped in _LINE_SEPARATORS:
            if raw in body:
                body = body.replace(raw, escaped)
        return body
