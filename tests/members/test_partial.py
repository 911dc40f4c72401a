import pytest

from members.models import Member
from members.partial import LABELS, is_partial, missing_pieces, missing_q
from members.scaffolding import NULLABLE_COLUMNS
from tests.factories import MemberFactory


@pytest.mark.django_db
@pytest.mark.parametrize("column", NULLABLE_COLUMNS)
def test_it_finds_a_member_with_a_null_column(column):
    complete = MemberFactory()
    partial = MemberFactory(**{column: None})
    assert list(Member.objects.partial()) == [partial]
    assert list(Member.objects.missing(column)) == [partial]
    assert complete in Member.objects.complete()


@pytest.mark.django_db
def test_it_finds_a_status_without_membership_status():
    status = MemberFactory().status
    del status["membership_status"]
    partial = MemberFactory(status=status)
    MemberFactory()
    assert list(Member.objects.partial()) == [partial]
    assert list(Member.objects.missing("membership_status")) == [partial]


@pytest.mark.django_db
def test_it_finds_a_status_whose_membership_status_is_json_null():
    status = MemberFactory().status
    status["membership_status"] = None
    partial = MemberFactory(status=status)
    assert list(Member.objects.partial()) == [partial]
    assert list(Member.objects.missing("membership_status")) == [partial]


@pytest.mark.django_db
def test_it_does_not_count_a_complete_member_as_partial():
    MemberFactory(membership="banned")
    assert not Member.objects.partial().exists()


# Column values, each with the pieces missing from them.
CASES = [
    ({}, []),
    ({"access": None, "extras": None}, ["access", "extras"]),
    ({"status": None}, ["status"]),
    ({"status": {"membership_level": "New Member"}}, ["membership_status"]),
    ({"status": {"membership_status": None}}, ["membership_status"]),
    ({"status": ["active"]}, ["membership_status"]),
    ({"status": "active", "notes": None}, ["membership_status", "notes"]),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("changes", "missing"), CASES)
def test_it_reads_column_values_as_the_database_does(changes, missing):
    member = MemberFactory(**changes)
    member.refresh_from_db()
    values = {column: getattr(member, column) for column in NULLABLE_COLUMNS}

    assert missing_pieces(values) == missing
    assert is_partial(values) == Member.objects.partial().filter(pk=member.pk).exists()
    for label in LABELS:
        in_sql = Member.objects.filter(missing_q(label), pk=member.pk).exists()
        assert (label in missing) == in_sql, label
