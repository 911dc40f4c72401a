import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from members import scaffolding
from members.models import Member
from tests.factories import MemberFactory, StaffFactory


def _raw_columns(member_id):
    """Each JSON column as PostgreSQL stores it, for byte-for-byte comparison."""
    columns = ("identity",) + scaffolding.NULLABLE_COLUMNS
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(c + '::text' for c in columns)}, date_modified"  # noqa: S608
            " FROM members_member WHERE id = %s",
            [member_id],
        )
        row = cursor.fetchone()
    return dict(zip(columns + ("date_modified",), row, strict=True))


@pytest.mark.django_db
def test_it_fills_exactly_the_null_columns_and_leaves_the_rest_untouched():
    member = MemberFactory(notes=None, extras=None, access={"rfid_tags": ["0000000007"]})
    before = _raw_columns(member.pk)

    filled = scaffolding.complete_member(member.pk)

    after = _raw_columns(member.pk)
    assert filled == ["notes", "extras"]
    assert after["notes"] == "[]"
    assert after["extras"] == '{"storage_id": null, "storage_area": null}'
    for column in ("identity", "status", "connections", "forms", "access", "authorizations"):
        assert after[column] == before[column]


@pytest.mark.django_db
def test_it_adds_a_missing_membership_status_and_keeps_the_other_keys():
    member = MemberFactory(status={"membership_level": "Gold", "payment_problem": True})
    assert scaffolding.complete_member(member.pk) == ["membership_status"]
    member.refresh_from_db()
    assert member.status == {
        "membership_level": "Gold",
        "payment_problem": True,
        "membership_status": "pending",
    }


@pytest.mark.django_db
def test_it_replaces_a_json_null_membership_status_with_pending():
    member = MemberFactory(status={"membership_status": None, "membership_level": "Gold"})
    scaffolding.complete_member(member.pk)
    member.refresh_from_db()
    assert member.status == {"membership_status": "pending", "membership_level": "Gold"}


@pytest.mark.django_db
def test_it_fills_a_null_status_with_the_pending_default():
    member = MemberFactory(status=None)
    assert scaffolding.complete_member(member.pk) == ["status"]
    member.refresh_from_db()
    assert member.status == scaffolding.default("status")
    assert member.membership_status == "pending"


@pytest.mark.django_db
def test_it_changes_nothing_on_a_second_call():
    member = MemberFactory(notes=None, status=None, forms=None)
    scaffolding.complete_member(member.pk)
    before = _raw_columns(member.pk)
    events_before = member.events.count()

    assert scaffolding.complete_member(member.pk) == []

    assert _raw_columns(member.pk) == before
    assert member.events.count() == events_before


@pytest.mark.django_db
def test_it_uses_a_given_value_only_for_a_null_column():
    note = [{"note": "hello", "from": "test", "timestamp": "2026-01-01T00:00:00+00:00"}]
    empty = MemberFactory(notes=None)
    existing = MemberFactory(notes=[{"note": "keep me", "from": "staff", "timestamp": None}])

    scaffolding.complete_member(empty.pk, only=["notes"], values={"notes": note})
    scaffolding.complete_member(existing.pk, only=["notes"], values={"notes": note})

    empty.refresh_from_db()
    existing.refresh_from_db()
    assert empty.notes == note
    assert existing.notes == [{"note": "keep me", "from": "staff", "timestamp": None}]


@pytest.mark.django_db
def test_it_fills_only_the_columns_it_is_asked_for():
    member = MemberFactory(access=None, extras=None)
    assert scaffolding.complete_member(member.pk, only=["access"]) == ["access"]
    member.refresh_from_db()
    assert member.access == {"rfid_tags": []}
    assert member.extras is None


def test_it_refuses_a_column_that_is_not_scaffolding():
    with pytest.raises(ValueError):
        scaffolding.complete_member(1, only=["email"])


def test_it_hands_out_independent_copies_of_defaults():
    first = scaffolding.default("access")
    first["rfid_tags"].append("0000000001")
    assert scaffolding.default("access") == {"rfid_tags": []}


@pytest.mark.django_db
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    nulls=st.sets(st.sampled_from(scaffolding.NULLABLE_COLUMNS)),
    status_state=st.sampled_from(["ok", "missing_key", "json_null"]),
)
def test_it_leaves_any_member_complete_and_keeps_every_existing_value(nulls, status_state):
    with transaction.atomic():
        member = MemberFactory(**{column: None for column in nulls})
        if "status" not in nulls and status_state != "ok":
            status = dict(member.status)
            if status_state == "missing_key":
                del status["membership_status"]
            else:
                status["membership_status"] = None
            Member.objects.filter(pk=member.pk).update(status=status)
        before = _raw_columns(member.pk)

        scaffolding.complete_member(member.pk)

        after = _raw_columns(member.pk)
        assert not Member.objects.partial().filter(pk=member.pk).exists()
        for column in ("identity",) + scaffolding.NULLABLE_COLUMNS:
            if column not in nulls and column != "status":
                assert after[column] == before[column]
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_it_leaves_a_status_that_is_not_an_object_alone_and_does_not_claim_it():
    member = MemberFactory(status=["damaged"], notes=None)
    assert scaffolding.complete_member(member.pk) == ["notes"]
    member.refresh_from_db()
    assert member.status == ["damaged"]
    assert scaffolding.complete_member(member.pk) == []


@pytest.mark.django_db
def test_it_records_the_completion_as_made_by_no_user():
    staff = StaffFactory()
    member = MemberFactory(extras=None, last_updated_by=staff)
    scaffolding.complete_member(member.pk)
    member.refresh_from_db()
    assert member.last_updated_by is None


@pytest.mark.django_db
def test_its_decision_without_the_database_is_what_it_writes():
    """The import completes a row before writing it with `completion`; a member
    completed in the database with complete_member ends the same."""
    columns = {"status": {"membership_level": "Student"}, "notes": None, "access": None}
    member = MemberFactory(**columns)
    stored = {c: getattr(member, c) for c in scaffolding.NULLABLE_COLUMNS}

    filled, missing = scaffolding.completion(stored)
    assert scaffolding.complete_member(member.pk) == missing

    member.refresh_from_db()
    assert {c: getattr(member, c) for c in filled} == filled
    assert filled["status"] == {"membership_level": "Student", "membership_status": "pending"}
    # Only the columns asked for; a given value stands in for the default.
    only, _ = scaffolding.completion(
        {**stored, "access": None}, only=["access"], values={"access": {"rfid_tags": []}}
    )
    assert only == {"access": {"rfid_tags": []}}
