"""The apps' PostgreSQL-only indexes (config.indexes): built by their migration, dropped
on the way back, and the indexes a migration replaces rebuilt; SQLite gets none. A
replaced Meta index (config.indexes.replace_index) is swapped on both."""

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
    built = {"task_ws_title_trgm_idx", "task_ws_recent_cover_idx", "task_ws_priority_idx"}
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


@pytest.mark.django_db(transaction=True)
def test_a_replaced_meta_index_is_swapped_both_ways_on_both_databases():
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        assert "task_repo_created_cover_idx" in index_names()
        assert "task_repo_created_idx" not in index_names()
        migrate([("tasks", "0014_task_pages_keep_room")])
        assert "task_repo_created_idx" in index_names()
        assert "task_repo_created_cover_idx" not in index_names()
    finally:
        migrate(leaves)
    assert "task_repo_created_cover_idx" in index_names()
