"""manage.py seed_demo, the top layer's command: the demo workspace of `make run`."""

from io import StringIO

from django.core.management import call_command

from accounts.models import ApiToken, Membership, Role, Workspace


def test_seed_demo_is_idempotent(db):
    first, second = StringIO(), StringIO()
    call_command("seed_demo", stdout=first)
    call_command("seed_demo", stdout=second)
    assert Workspace.objects.filter(slug="demo").count() == 1
    assert Membership.objects.get(workspace__slug="demo").role == Role.OWNER
    active = ApiToken.objects.active().filter(user__username="demo", name="seed_demo")
    assert active.count() == 1
    printed = second.getvalue().split("API token: ")[1].split()[0]
    assert ApiToken.objects.authenticate(printed) == active.get()
    assert "/admin/" in second.getvalue() and "login demo / taskdesk-demo" in second.getvalue()
