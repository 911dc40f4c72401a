"""`manage.py repair_members [--dry-run]`: the repair from the shell or cron."""

import pytest
from django.core.management import call_command

from members import scaffolding
from members.models import Member
from tests.dburl import test_database_url
from tests.factories import MemberFactory
from tests.threads import run_in_threads


def _run(*args):
    from io import StringIO

    out = StringIO()
    call_command("repair_members", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def members():
    no_notes = MemberFactory(notes=None, access=None)
    null_status = MemberFactory()
    null_status.status["membership_status"] = None
    null_status.save()
    complete = MemberFactory()
    return no_notes, null_status, complete


@pytest.mark.django_db
def test_it_lists_partial_members_and_changes_nothing_on_a_dry_run(members):
    no_notes, null_status, complete = members
    before = list(Member.objects.order_by("pk").values())
    events = sum(m.events.count() for m in members)

    out = _run("--dry-run")

    assert f"{no_notes.pk}\tnotes, access" in out
    assert f"{null_status.pk}\tmembership_status" in out
    assert f"{complete.pk}\t" not in out
    assert "2 partial members; nothing changed (dry run)" in out
    assert list(Member.objects.order_by("pk").values()) == before
    assert sum(m.events.count() for m in members) == events


@pytest.mark.django_db
def test_it_fills_exactly_what_was_missing_and_prints_counts(members):
    no_notes, null_status, complete = members
    complete_before = Member.objects.values().get(pk=complete.pk)
    no_notes_before = Member.objects.values().get(pk=no_notes.pk)

    out = _run()

    assert "Repaired 2 members (3 columns filled); 1 was already complete" in out
    after = Member.objects.values().get(pk=no_notes.pk)
    assert after["notes"] == scaffolding.default("notes")
    assert after["access"] == scaffolding.default("access")
    for column in ("identity", "status", "connections", "forms", "authorizations", "extras"):
        assert after[column] == no_notes_before[column]
    assert Member.objects.get(pk=null_status.pk).status == {
        **null_status.status,
        "membership_status": "pending",
    }
    assert Member.objects.values().get(pk=complete.pk) == complete_before


@pytest.mark.django_db
def test_it_changes_nothing_on_a_second_run(members):
    _run()
    before = list(Member.objects.order_by("pk").values())
    out = _run()
    assert "Repaired 0 members (0 columns filled); 3 were already complete" in out
    assert list(Member.objects.order_by("pk").values()) == before


@pytest.mark.django_db
def test_it_reports_a_status_it_cannot_complete_without_claiming_to_fix_it():
    damaged = MemberFactory(status=["not", "an", "object"])
    first, second = _run(), _run()
    for out in (first, second):
        assert "Repaired 0 members (0 columns filled); 0 were already complete" in out
        assert "1 needs a staff edit" in out
    assert Member.objects.get(pk=damaged.pk).status == ["not", "an", "object"]


@pytest.mark.django_db(transaction=True)
def test_it_records_the_repair_as_a_command(members):
    no_notes = members[0]
    _run()
    event = no_notes.events.order_by("pgh_id").last()
    assert event.pgh_context.metadata["source"] == "command"


@pytest.mark.django_db(transaction=True)
def test_it_repairs_and_exits_zero_from_the_shell(members):
    import subprocess
    import sys

    # The command runs in its own process against this test database, as cron would.
    env = {
        "DATABASE_URL": test_database_url(),
        "SECRET_KEY": "x",
        "PATH": "/usr/bin:/bin",
        "HTTPS": "false",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "repair_members"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Repaired 2 members (3 columns filled); 1 was already complete" in result.stdout
    assert not Member.objects.partial().exists()


@pytest.mark.django_db(transaction=True)
def test_it_fills_each_column_once_when_two_runs_overlap():
    partial = [MemberFactory(notes=None, extras=None) for _ in range(20)]
    outputs = run_in_threads(_run, 2)
    repaired = [int(out.split("Repaired ")[1].split(" ")[0]) for out in outputs]
    assert sum(repaired) == 20
    assert not Member.objects.partial().exists()
    for member in partial:
        repairs = [e for e in member.events.all() if e.pgh_label == "update"]
        assert len(repairs) == 1
