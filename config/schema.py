"""A drf-spectacular postprocessing hook: the schema the same on every database.

Model integer fields get their bounds from the connection (`integer_field_range`):
SQLite says 64-bit for all, PostgreSQL 32-bit for IntegerField. The committed
docs/openapi.yaml must not depend on where `make schema` ran, so bounds that are only
the column's storage limits are dropped (`format: int64` with them); bounds the API
chose itself (max_value in a serializer) stay.
"""

from typing import Any

STORAGE_LIMITS = {2**31 - 1, 2**63 - 1}
STORAGE_FLOORS = {-(2**31), -(2**63)}


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
