"""The apps' PostgreSQL-only indexes (config.indexes): built by their migration, dropped
on the way back, and the indexes a migration replaces rebuilt; SQLite gets none. An
index swapped for another (config.indexes.swap_indexes) is swapped on both."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_SEARCH = [("tasks", "0006_repository_webhook_secret")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def index_names() -> set[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "tasks_task")
    return {name for name, info in constraints.items() if info["index"]}


@pytest.mark.django_db(transaction=True)
def test_index_migrations_build_drop_and_restore_what_they_replace():
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    built = {"task_ws_title_trgm_idx", "task_ws_workflow_updated_idx", "task_ws_priority_idx"}
    try:
        now = index_names()
        if connection.vendor == "sqlite":
            assert not built & now
            return
        assert built <= now and not {"task_ws_recent_nl_idx", "task_title_trgm_idx"} & now
        migrate(BEFORE_SEARCH)
        before = index_names()
        assert not built & before
        assert "task_ws_recent_nl_idx" in before  # 0002's, which 0007 replaces
    finally:
        migrate(leaves)
    assert built <= index_names()
    assert not {"task_ws_recent_nl_idx", "task_title_trgm_idx"} & index_names()


SWAPPED = {  # tasks 0015-0017 (config.indexes.swap_indexes): old name -> new name
    "task_repo_created_idx": "task_repo_created_cover_idx",
    # The foreign keys' own indexes.
    "tasks_task_repository_id_ca81654e": "task_repo_created_cover_idx",
    "tasks_task_robot_id_e60847ed": "task_robot_cover_idx",
    "tasks_task_workspace_id_f79e2ad7": "task_ws_source_event_idx",
}


def swapped_back_and_forth(
    swapped: dict[str, str], before: tuple[str, str], *, kept_on_postgresql: bool = False
) -> None:
    """Migrates back to `before` and forward again: the old indexes of `swapped` (old name
    -> new name) there, the new ones here. `kept_on_postgresql`: an earlier migration's SQL
    built the new ones there, and they stay at `before`."""
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    old, new = set(swapped), set(swapped.values())
    try:
        assert new <= index_names() and not old & index_names()
        migrate([before])
        assert old <= index_names()
        if kept_on_postgresql and connection.vendor == "postgresql":
            assert new <= index_names()
        else:
            assert not new & index_names()
    finally:
        migrate(leaves)
    assert new <= index_names() and not old & index_names()


@pytest.mark.django_db(transaction=True)
def test_swapped_indexes_are_swapped_both_ways_on_both_databases():
    swapped_back_and_forth(SWAPPED, ("tasks", "0014_task_pages_keep_room"))


COVERED = {  # tasks 0018: a narrow copy -> the covering index with the same keys
    "task_ws_recent_idx": "task_ws_recent_cover_idx",
    "task_ws_workflow_idx": "task_ws_state_idx",
}


@pytest.mark.django_db(transaction=True)
def test_narrow_copies_of_covering_indexes_are_dropped_and_restored():
    # On PostgreSQL 0002 and 0007 built the covering indexes; 0018 keeps them both ways.
    swapped_back_and_forth(
        COVERED, ("tasks", "0017_task_ws_source_event_idx"), kept_on_postgresql=True
    )
    new = set(COVERED.values())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)", [list(new)]
            )
            definitions = dict(cursor.fetchall())
        assert (
            "INCLUDE (archived, status, workflow_status)"
            in definitions[COVERED["task_ws_recent_idx"]]
        )
        assert (
            "INCLUDE (archived, status, awaiting_input)"
            in definitions[COVERED["task_ws_workflow_idx"]]
        )
