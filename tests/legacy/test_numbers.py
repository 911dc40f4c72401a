"""Member numbers are kept (README, "Moving from Deep Harbor"): an imported member's number
is its Deep Harbor id unless a portal member already holds it; new members are numbered above; a dry
run uses up no number."""

import pytest
from django.db import connection

from legacy.models import ImportedRow
from members.models import Member
from tests.factories import MemberFactory
from tests.legacy.conftest import run_import

pytestmark = pytest.mark.django_db

DEEP_HARBOR_IDS = set(range(1, 20))


def sequence() -> tuple[int, bool]:
    """The member id sequence's state: (last value, whether it was used)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('members_member', 'id')")
        name = cursor.fetchone()[0]
        cursor.execute(f"SELECT last_value, is_called FROM {name}")  # noqa: S608
        return cursor.fetchone()


@pytest.fixture
def fresh_numbers():
    """The member id sequence as a new database has it (the test database's has been
    used by other tests; their rows are gone, their numbers not). Put back after, so
    later tests never meet numbers they did not expect."""
    before, _ = sequence()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('members_member', 'id')")
        name = cursor.fetchone()[0]
        cursor.execute(f"ALTER SEQUENCE {name} RESTART WITH 1")
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(%s, GREATEST(%s, (SELECT last_value FROM " + name + ")))", [name, before]
        )  # noqa: S608


def test_it_keeps_every_imported_members_number_on_a_fresh_database(fresh_numbers, deepharbor):
    out, _ = run_import("--source", deepharbor)

    members = Member.objects.exclude(legacy_id=None)
    assert {m.legacy_id for m in members} == DEEP_HARBOR_IDS
    assert all(m.pk == m.legacy_id for m in members)
    assert ", numbers changed 0, " in out
    # Whoever signs up next is numbered above them.
    assert MemberFactory().pk == max(DEEP_HARBOR_IDS) + 1


def test_it_numbers_a_row_whose_number_is_taken_above_every_other_and_records_it(
    fresh_numbers, deepharbor
):
    ada, grace = MemberFactory(), MemberFactory()
    assert (ada.pk, grace.pk) == (1, 2)

    out, _ = run_import("--source", deepharbor)

    assert ", numbers changed 2, " in out
    alice, bob = Member.objects.get(legacy_id=1), Member.objects.get(legacy_id=2)
    assert {alice.pk, bob.pk} == {20, 21}
    assert all(m.pk == m.legacy_id for m in Member.objects.filter(legacy_id__gt=2))
    (fix,) = [f for f in ImportedRow.objects.get(legacy_id=2).detail if f["kind"] == "number"]
    assert fix == {
        "field": "member number",
        "value": 2,
        "fix": f"held by another member; this member is #{bob.pk}",
        "kind": "number",
    }
    # The member's own page says so too (the fixes' note, as for every fix).
    assert f"this member is #{bob.pk}" in bob.notes[-1]["note"]
    assert MemberFactory().pk == 22


def test_a_dry_run_uses_up_no_number_and_counts_the_same(fresh_numbers, deepharbor):
    MemberFactory()
    before = sequence()

    dry, _ = run_import("--source", deepharbor, "--dry-run")

    assert sequence() == before
    assert not Member.objects.exclude(legacy_id=None).exists()
    real, _ = run_import("--source", deepharbor)
    assert dry == real
    assert ", numbers changed 1, " in real
    assert Member.objects.get(legacy_id=1).pk == 20
