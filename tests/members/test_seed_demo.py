import pytest
from django.core.management import call_command

from members.models import Member, User


@pytest.mark.django_db
def test_it_creates_members_in_every_state_and_is_idempotent(settings, tmp_path, monkeypatch):
    settings.DEBUG = True
    from members.management.commands import seed_demo

    monkeypatch.setattr(seed_demo, "ADMIN_PASSWORD_FILE", tmp_path / "admin.txt")
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    counts = (Member.objects.count(), User.objects.count())
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert (Member.objects.count(), User.objects.count()) == counts
    statuses = {m.membership_status for m in Member.objects.all()}
    assert {"pending", "active", "lapsed", "suspended", "banned", None} <= statuses
    assert Member.objects.filter(status__isnull=True).exists()
    assert Member.objects.filter(notes__isnull=True, access__isnull=True).exists()
    assert all(m.user_id for m in Member.objects.all())
    assert User.objects.filter(is_superuser=True).count() == 1
    assert (tmp_path / "admin.txt").read_text().startswith("admin@example.org ")


@pytest.mark.django_db
def test_it_refuses_to_run_with_debug_off(settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("seed_demo")
    assert not Member.objects.exists()
