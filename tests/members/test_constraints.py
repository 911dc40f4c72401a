import pytest
from django.db import IntegrityError, connection, transaction

from members.models import Member, RfidTag, User
from tests.factories import MemberFactory


def _insert_fails(**fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        Member.objects.create(**fields)


@pytest.mark.django_db
def test_it_refuses_a_second_member_whose_email_differs_only_in_case():
    Member.objects.create(email="ada@example.org", username="ada")
    _insert_fails(email="ADA@Example.org", username="ada2")
    assert Member.objects.count() == 1


@pytest.mark.django_db
def test_it_refuses_a_case_variant_email_even_when_written_by_raw_sql():
    Member.objects.create(email="ada@example.org", username="ada")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO members_member (email, username, billing_ref, identity, date_added,"
            " date_modified) VALUES ('Ada@EXAMPLE.org', 'x', 'raw-ref-0000000000001', '{}',"
            " now(), now())"
        )


@pytest.mark.django_db
def test_it_allows_several_members_with_a_blank_email():
    Member.objects.create(email="", username="one")
    Member.objects.create(email="", username="two")
    assert Member.objects.filter(email="").count() == 2


@pytest.mark.django_db
def test_it_refuses_a_second_member_whose_username_differs_only_in_case():
    Member.objects.create(email="a@example.org", username="Hacker_1")
    _insert_fails(email="b@example.org", username="hACKER_1")


@pytest.mark.django_db
def test_it_allows_several_members_with_a_blank_username():
    Member.objects.create(email="a@example.org", username="")
    Member.objects.create(email="b@example.org", username="")
    assert Member.objects.filter(username="").count() == 2


@pytest.mark.django_db
def test_it_stores_member_email_trimmed_and_lower_cased():
    member = Member.objects.create(email="  Grace@Example.ORG ", username="grace")
    member.refresh_from_db()
    assert member.email == "grace@example.org"


@pytest.mark.django_db
def test_it_refuses_two_users_whose_email_or_username_differ_only_in_case():
    User.objects.create_user(username="Grace", email="grace@example.org")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="other", email="GRACE@example.org")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="grace", email="else@example.org")


@pytest.mark.django_db
def test_it_refuses_one_rfid_tag_on_two_members():
    MemberFactory(access={"rfid_tags": ["0012345678"]})
    with pytest.raises(IntegrityError), transaction.atomic():
        MemberFactory(access={"rfid_tags": ["0012345678"]})
    assert RfidTag.objects.filter(tag="0012345678").count() == 1


@pytest.mark.django_db
def test_it_compares_tags_in_their_zero_padded_form():
    MemberFactory(access={"rfid_tags": ["12345678"]})
    other = MemberFactory()
    other.access = {"rfid_tags": ["0012345678"]}
    with pytest.raises(IntegrityError), transaction.atomic():
        other.save()


@pytest.mark.django_db
def test_it_refuses_a_shared_tag_written_as_raw_json():
    MemberFactory(access={"rfid_tags": ["0000000042"]})
    other = MemberFactory()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """UPDATE members_member SET access = '{"rfid_tags": ["0000000042"]}'::jsonb"""
            " WHERE id = %s",
            [other.pk],
        )


@pytest.mark.django_db
def test_it_frees_a_tag_when_its_member_drops_it():
    first = MemberFactory(access={"rfid_tags": ["0000000042"]})
    Member.objects.filter(pk=first.pk).update(access={"rfid_tags": []})
    MemberFactory(access={"rfid_tags": ["0000000042"]})
    assert RfidTag.objects.get(tag="0000000042").member_id != first.pk


@pytest.mark.django_db
def test_it_refuses_a_tag_that_is_not_ten_digits():
    with pytest.raises(IntegrityError), transaction.atomic():
        MemberFactory(access={"rfid_tags": ["12ab"]})
