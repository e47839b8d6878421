"""The PostgreSQL-only indexes of the apps' migrations, built CONCURRENTLY (a migration of
a live 1M-task table must not lock its writers) and dropped the same way on the way back.
SQLite keeps its plain scans. A migration using it sets `atomic = False`.
`swap_indexes` replaces indexes of both vendors the same way."""

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import migrations
from django.db.models import Index


def concurrent_indexes(
    indexes: Mapping[str, str], *, replaces: Mapping[str, str] | None = None, setup: str = ""
) -> migrations.RunPython:
    """Creates `indexes` (name -> the definition after the name), then drops `replaces`
    (the indexes they supersede, rebuilt on the way back); `setup` runs first (an
    extension the definitions need)."""
    replaces = replaces or {}

    def create(names: Mapping[str, str], schema_editor: Any) -> None:
        for name, definition in names.items():
            schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")

    def drop(names: Mapping[str, str], schema_editor: Any) -> None:
        for name in names:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")

    def forwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            if setup:
                schema_editor.execute(setup)
            create(indexes, schema_editor)
            drop(replaces, schema_editor)

    def backwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            create(replaces, schema_editor)
            drop(indexes, schema_editor)

    return migrations.RunPython(forwards, backwards)


def swap_indexes(
    app_label: str,
    model_name: str,
    old: Sequence[Index],
    new: Sequence[Index],
    *,
    built_on_postgresql: bool = False,
) -> migrations.RunPython:
    """The database half of replacing a model's indexes `old` by `new` on both vendors
    (the migration changes Django's state beside it): on PostgreSQL `new` are built
    CONCURRENTLY before `old` are dropped the same way, on SQLite plainly; the way back
    swaps them. `built_on_postgresql`: an earlier migration's SQL already built `new`
    there (`concurrent_indexes`) and keeps them; only `old` are dropped and rebuilt."""

    def swap(apps: Any, schema_editor: Any, add: Sequence[Index], drop: Sequence[Index]) -> None:
        model = apps.get_model(app_label, model_name)
        options = {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
        kept = list(new) if options and built_on_postgresql else []
        for index in add:
            if index not in kept:
                schema_editor.add_index(model, index, **options)
        for index in drop:
            if index not in kept:
                schema_editor.remove_index(model, index, **options)

    def forwards(apps: Any, schema_editor: Any) -> None:
        swap(apps, schema_editor, new, old)

    def backwards(apps: Any, schema_editor: Any) -> None:
        swap(apps, schema_editor, old, new)

    return migrations.RunPython(forwards, backwards)
