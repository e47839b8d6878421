"""The API's renderer (config/renderers.py) writes the bytes DRF's JSONRenderer writes
for the camelized data, through orjson or, where orjson would differ, through DRF."""

import datetime
import decimal
import random
import uuid

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from config.renderers import CamelCaseJSONRenderer, camelize


def drf_bytes(data, media_type="application/json"):
    return JSONRenderer().render(camelize(data), media_type, {})


def ours(data, media_type="application/json"):
    return CamelCaseJSONRenderer().render(data, media_type, {})


EVERY_CHARACTER_OF_NOTE = "".join(chr(i) for i in range(0x100)) + "\u2028\u2029\ufeff😀\ue000"


@pytest.mark.parametrize(
    "value",
    [
        {"snake_case": EVERY_CHARACTER_OF_NOTE, "nested_list": [{"a_b": None}, True, 0, -1]},
        {"when": datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)},
        {"when": datetime.datetime(2026, 1, 2, 3, 4, 5)},
        {"day": datetime.date(2026, 1, 2), "at": datetime.time(1, 2, 3, 4)},
        {"id": uuid.UUID("12345678-1234-5678-1234-567812345678")},
        {"money": decimal.Decimal("1.10"), "took": datetime.timedelta(seconds=1.5)},
        {"lazy": gettext_lazy("Not found."), "tuple_value": (1, 2), "a_range": range(2)},
        {"floats": [0.0, -0.0, 1.0, 0.1, 100.0, 123456789012345.6, 0.0001]},
        {"exponent": 1e-05},
        {"exponent": 1e16},
        {"big": 2**64, "negative_big": -(2**63) - 1},
        {1: "an int key", "x": {2.5: "a float key", None: "a None key", True: "a bool key"}},
        [],
        {},
        "a string",
    ],
)
def test_renderer_writes_drf_bytes(value):
    assert ours(value) == drf_bytes(value)


def test_renderer_writes_drf_bytes_for_random_floats():
    rng = random.Random(16)
    floats = [rng.uniform(-1, 1) * 10 ** rng.randint(-4, 15) for _ in range(20000)]
    floats += [round(f, rng.randint(0, 6)) for f in floats[:5000]]
    assert ours({"f": floats}) == drf_bytes({"f": floats})


def test_renderer_falls_back_where_drf_fails_or_indents():
    for odd in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            ours({"x": odd})  # DRF's strict JSON refuses them; orjson would write null
    with pytest.raises(UnicodeEncodeError):
        ours({"x": "\ud800"})  # a lone surrogate: DRF fails the same way
    assert ours({"a_b": [1]}, "application/json; indent=2") == drf_bytes(
        {"a_b": [1]}, "application/json; indent=2"
    )
    assert b"\n" in ours({"a_b": [1]}, "application/json; indent=2")
    assert ours(None) == b""
