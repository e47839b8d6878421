"""PostgreSQL plans, as executed, for tests that bound what a statement reads."""

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from django.db import connection


def rows_read(plan: dict[str, Any], table: str) -> int:
    """The rows a plan's scans of `table` went through, over all their loops."""
    own = 0
    if plan.get("Relation Name") == table and plan["Node Type"].endswith("Scan"):
        own = (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * plan["Actual Loops"]
    return own + sum(rows_read(child, table) for child in plan.get("Plans", []))


@contextlib.contextmanager
def executed_plans() -> Iterator[list[dict[str, Any]]]:
    """The plans, with their actual rows, of the statements this connection runs inside
    the block: PostgreSQL's auto_explain, its output sent to this client as notices.
    Each item is auto_explain's JSON: {"Query Text": ..., "Plan": ...}."""
    plans: list[dict[str, Any]] = []

    def keep(notice: Any) -> None:
        text = notice.message_primary or ""
        if "{" in text:
            plans.append(json.loads(text[text.index("{") :]))

    connection.ensure_connection()
    raw = connection.connection
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for name, value in (
            ("log_min_duration", "0"),
            ("log_analyze", "on"),
            ("log_format", "json"),
            ("log_level", "notice"),
        ):
            cursor.execute(f"SET auto_explain.{name} = '{value}'")
    raw.add_notice_handler(keep)
    try:
        yield plans
    finally:
        raw.remove_notice_handler(keep)
        with connection.cursor() as cursor:
            cursor.execute("SET auto_explain.log_min_duration = -1")
