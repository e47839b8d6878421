"""config.compiled: a query of fixed shape is built and compiled once, then answers each
run's slot values with the rows and the Python values `values()` would give."""

from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from django.db import connection, transaction
from django.db.models import CharField, DateTimeField, Exists, F, OuterRef, UUIDField
from django.db.models.expressions import RawSQL
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiToken, Workspace
from config.compiled import (
    CompiledModelQuery,
    CompiledQuery,
    CompiledUpdate,
    Literal,
    Slot,
    Slots,
    Splice,
    listed,
)
from runs.models import TaskRun
from tasks.models import Task
from tests.factories import RobotFactory, TaskFactory, UserFactory, WorkspaceFactory


def test_slots_bind_each_run_and_rows_convert_as_values_does(db):
    builds = []
    first, second = WorkspaceFactory(slug="one"), WorkspaceFactory(slug="two")

    def build():
        builds.append(1)
        return Workspace.objects.filter(pk=Slot("id", UUIDField())).values(
            "id", "slug", "features", "created_at", "owner__is_active"
        )

    query = CompiledQuery(build)
    for workspace in (first, second, first):
        expected = Workspace.objects.filter(pk=workspace.pk).values(
            "id", "slug", "features", "created_at", "owner__is_active"
        )
        assert query.rows(id=workspace.pk) == list(expected)
    assert len(builds) == 1
    row = query.rows(id=first.pk)[0]
    assert isinstance(row["id"], UUID) and row["owner__is_active"] is True
    assert row["features"] == {"taskLogsEnabled": True}
    assert timezone.is_aware(row["created_at"])


def test_no_match_is_no_rows_and_every_run_is_one_logged_query(db):
    query = CompiledQuery(
        lambda: Workspace.objects.filter(slug=Slot("slug", CharField())).values_list("slug")
    )
    WorkspaceFactory(slug="here")
    with CaptureQueriesContext(connection) as captured:
        assert query.tuples(slug="missing") == []
        assert query.tuples(slug="here") == [("here",)]
    assert len(captured) == 2
    assert captured[0]["sql"].replace("'missing'", "'here'") == captured[1]["sql"]


def test_a_datetime_slot_is_compared_as_the_field_prepares_it(db):
    user = UserFactory()
    token, _ = ApiToken.issue(user, "soon", expires_at=timezone.now() + timedelta(minutes=5))
    query = CompiledQuery(
        lambda: ApiToken.objects.active(Slot("now", DateTimeField())).values_list("name")
    )
    assert query.tuples(now=timezone.now()) == [("soon",)]
    assert query.tuples(now=timezone.now() + timedelta(minutes=10)) == []
    token.revoke()
    assert query.tuples(now=timezone.now()) == []


def test_a_splice_takes_a_subquery_given_at_each_run(db):
    one, two, three = (WorkspaceFactory(slug=slug) for slug in ("one", "two", "three"))
    builds = []

    def build():
        builds.append(1)
        return (
            Workspace.objects.filter(pk__in=Splice("ids"), slug__gt=Slot("after", CharField()))
            .order_by("slug")
            .values_list("slug")
        )

    query = CompiledQuery(build)
    both = Workspace.objects.filter(slug__in=["one", "three"]).values("pk")
    assert query.tuples(ids=both, after="a") == [("one",), ("three",)]
    assert query.tuples(ids=both, after="p") == [("three",)]
    table = Workspace._meta.db_table
    raw = RawSQL(f"SELECT id FROM {table} WHERE slug = %s", ("two",))
    with CaptureQueriesContext(connection) as captured:
        assert query.tuples(ids=raw, after="a") == [("two",)]
    assert "'two'" in captured[0]["sql"] and "splice" not in captured[0]["sql"]
    sliced = Workspace.objects.order_by("-slug").values("pk")[:1]  # "two"
    assert query.tuples(ids=sliced, after="a") == [("two",)]
    with CaptureQueriesContext(connection) as captured:
        assert query.tuples(ids=Workspace.objects.filter(pk__in=[]).values("pk"), after="a") == []
    assert len(captured) == 0  # Django knows it empty: no query
    assert {one.pk, two.pk, three.pk} and len(builds) == 1


def model_fields(obj):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_a_model_query_gives_the_instance_queryset_get_gives(db):
    """Its related instances (select_related) and annotations included, built once."""
    builds = []
    first = TaskFactory(title="One", robot=RobotFactory(workspace=WorkspaceFactory(slug="w1")))
    second = TaskFactory(title="Two", robot=None)
    TaskRun.objects.create(task=first, number=1, status="PENDING")

    def shaped():
        pending = TaskRun.objects.filter(task=OuterRef("pk"), status="PENDING")
        return Task.objects.select_related("workspace", "robot").annotate(pending=Exists(pending))

    def build():
        builds.append(1)
        return shaped().filter(pk=Slot("pk", UUIDField()))

    query = CompiledModelQuery(build)
    for task in (first, second, first):
        got, expected = query.get(pk=task.pk), shaped().get(pk=task.pk)
        assert type(got) is Task and model_fields(got) == model_fields(expected)
        assert model_fields(got.workspace) == model_fields(expected.workspace)
        assert got.pending == expected.pending
        if expected.robot is None:
            assert got.robot is None
        else:
            assert model_fields(got.robot) == model_fields(expected.robot)
        assert not got._state.adding and got._state.db == "default"
    assert [query.get(pk=t.pk).pending for t in (first, second)] == [True, False]
    assert len(builds) == 1
    with CaptureQueriesContext(connection) as captured:
        slug = query.get(pk=second.pk).workspace.slug  # read with it: no query of its own
    assert len(captured) == 1 and slug == second.workspace.slug


def test_a_model_query_gives_all_its_instances_in_order_with_slots_and_splices(db):
    """`all()`: the instances the queryset gives, in its order, with their annotations,
    select_related and deferred fields as Django leaves them; an empty list is no query."""
    workspace = WorkspaceFactory()
    tasks = [TaskFactory(workspace=workspace, title=title) for title in ("b", "a", "c")]
    TaskRun.objects.create(task=tasks[2], number=1, status="PENDING")

    def shaped():
        pending = TaskRun.objects.filter(task=OuterRef("pk"), status="PENDING")
        return (
            Task.objects.select_related("workspace")
            .annotate(pending=Exists(pending))
            .only("id", "title", "workspace__slug")
            .order_by("title")
        )

    by_list = CompiledModelQuery(lambda: shaped().filter(pk__in=Slots("ids", UUIDField())))
    by_splice = CompiledModelQuery(lambda: shaped().filter(pk__in=Splice("ids")))
    ids = [task.pk for task in tasks]
    expected = [(t.title, t.pending, t.workspace.slug) for t in shaped().filter(pk__in=ids)]
    some = Task.objects.filter(title__in=["a", "c"]).values("pk")
    for got in (by_list.all(ids=ids), by_splice.all(ids=listed(ids, UUIDField()))):
        assert [(t.title, t.pending, t.workspace.slug) for t in got] == expected
        assert got[0].get_deferred_fields() == shaped().first().get_deferred_fields()
    assert [t.title for t in by_splice.all(ids=some)] == ["a", "c"]
    with CaptureQueriesContext(connection) as captured:
        assert by_list.all(ids=[]) == [] and by_splice.all(ids=Task.objects.none()) == []
    assert len(captured) == 0


@pytest.mark.django_db(transaction=True)
def test_a_model_query_raises_as_get_does_and_locks_only_in_a_transaction():
    query = CompiledModelQuery(
        lambda: Task.objects.select_for_update().filter(pk=Slot("pk", UUIDField()))
    )
    with transaction.atomic():
        with pytest.raises(Task.DoesNotExist):
            query.get(pk=uuid4())
        task = TaskFactory()
        assert query.get(pk=task.pk) == task
    with pytest.raises(TransactionManagementError):
        query.get(pk=task.pk)


def test_an_update_sets_what_queryset_update_sets_compiled_once_per_set_of_fields(db):
    """Each value prepared as its field saves it; the filter's slots bound at each run; a
    row the filter does not take is left alone."""
    builds = []
    first, second = TaskFactory(title="One"), TaskFactory(title="Two")

    def build():
        builds.append(1)
        return Task.objects.filter(pk=Slot("pk", UUIDField()), deleted=False)

    update = CompiledUpdate(build)
    when = timezone.now() - timedelta(days=1)
    with CaptureQueriesContext(connection) as captured:
        assert update.update({"title": "First", "updated_at": when}, pk=first.pk) == 1
        assert update.update({"title": "Second", "updated_at": when}, pk=second.pk) == 1
        Task.objects.filter(pk=second.pk, deleted=False).update(title="Second", updated_at=when)
    compiled, orm = captured[1]["sql"], captured[2]["sql"]
    assert compiled.replace("(", "").replace(")", "") == orm.replace("(", "").replace(")", "")
    assert len(builds) == 1
    first.refresh_from_db()
    assert (first.title, first.updated_at) == ("First", when)
    Task.objects.filter(pk=first.pk).update(deleted=True)
    assert update.update({"title": "Gone", "updated_at": when}, pk=first.pk) == 0
    first.refresh_from_db()
    assert first.title == "First"
    assert update.update({"retries": 4}, pk=second.pk) == 1 and len(builds) == 2


def test_an_update_compiles_an_expression_with_its_statement_at_each_run(db):
    task = TaskFactory(retries=2)
    update = CompiledUpdate(lambda: Task.objects.filter(pk=Slot("pk", UUIDField())))
    for _ in range(2):
        assert update.update({"retries": F("retries") + 1, "error": "again"}, pk=task.pk) == 1
    task.refresh_from_db()
    assert (task.retries, task.error) == (4, "again")


def test_slots_take_a_list_of_values_at_each_run(db):
    """`Slots`: as many placeholders as values, each prepared by its field (a UUID on
    SQLite is its hex); an empty list is no rows without a query."""
    one, two, three = (WorkspaceFactory(slug=slug) for slug in ("one", "two", "three"))
    builds = []

    def build():
        builds.append(1)
        return (
            Workspace.objects.filter(pk__in=Slots("ids", UUIDField()))
            .order_by("slug")
            .values_list("slug")
        )

    query = CompiledQuery(build)
    assert query.tuples(ids=[three.pk, one.pk]) == [("one",), ("three",)]
    assert query.tuples(ids=(two.pk,)) == [("two",)]
    assert query.tuples(ids=[one.pk, two.pk, three.pk, uuid4()]) == [
        ("one",),
        ("three",),
        ("two",),
    ]
    with CaptureQueriesContext(connection) as captured:
        assert query.tuples(ids=[]) == []
    assert len(captured) == 0
    assert len(builds) == 1


def test_a_listed_splice_is_its_values_prepared_by_the_field(db):
    one, two = WorkspaceFactory(slug="one"), WorkspaceFactory(slug="two")
    query = CompiledQuery(
        lambda: Workspace.objects.filter(pk__in=Splice("ids")).order_by("slug").values_list("slug")
    )
    assert query.tuples(ids=listed([two.pk, one.pk], UUIDField())) == [("one",), ("two",)]
    assert query.tuples(ids=listed([two.pk, uuid4()], UUIDField())) == [("two",)]
    with CaptureQueriesContext(connection) as captured:
        assert query.tuples(ids=listed([], UUIDField())) == []
    assert len(captured) == 0


def test_a_literal_is_written_into_the_sql_and_only_a_word_is_one(db):
    task = TaskFactory()
    TaskRun.objects.create(task=task, number=1, status="IN_PROGRESS")
    running = TaskRun.objects.filter(status=Literal("IN_PROGRESS", CharField()))
    sql, params = running.values("task_id").query.sql_with_params()
    assert "'IN_PROGRESS'" in sql and params == ()
    assert list(running.values_list("task_id", flat=True)) == [task.pk]
    assert not TaskRun.objects.filter(status=Literal("PENDING", CharField())).exists()
    for not_a_word in ("IN PROGRESS", "x'; DROP TABLE tasks_taskrun; --", ""):
        with pytest.raises(ValueError):
            Literal(not_a_word, CharField())
