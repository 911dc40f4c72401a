"""The canonical email (members/emails.py) and the data migration that puts existing rows
in it (members/migrations/0005_canonical_emails.py)."""

import importlib

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection

from members.emails import EmailField, canonical_email, normalize_email, stored_email
from members.models import Member, User
from members.models import normalize_email as reexported
from tests.factories import MemberFactory, UserFactory

# Each spelling and the canonical form it must become.
SAME_ADDRESS = [
    ("bo@example.org", "bo@example.org"),
    ("Bo@ＥＸＡＭＰＬＥ.org", "bo@example.org"),  # full-width letters: NFKC
    ("Ｂｏ＠example.org", "bo@example.org"),  # full-width local part and at sign
    ("  bo@example.org\t", "bo@example.org"),
    ("BO@EXAMPLE.ORG", "bo@example.org"),
    ("bo@exämple.org", "bo@xn--exmple-cua.org"),
    ("bo@EXÄMPLE.org", "bo@xn--exmple-cua.org"),
    ("bo@xn--exmple-cua.org", "bo@xn--exmple-cua.org"),
    ("Bo@XN--EXMPLE-CUA.org", "bo@xn--exmple-cua.org"),
]

# Each address that has no canonical form, and a word its refusal must contain.
REFUSED = [
    ("bo@example.org\u200b", "ZERO WIDTH SPACE"),
    ("bo\u200b@example.org", "ZERO WIDTH SPACE"),
    ("bo@exa\u00admple.org", "SOFT HYPHEN"),
    ('"bo"@example.org', "Quoting"),
    ("bö@example.org", "Internationalized characters before the @-sign"),
    ("bo@" + "é" * 60 + ".org", "after the @-sign"),
    ("bo@example.a\ufffd", "after the @-sign"),
    ("bo@exam\x00ple.org", "U+0000"),
    ("bo@example", "period"),
    ("bo@[192.0.2.1]", "bracketed IP address"),
    ("not an address", "@-sign"),
    ("b" * 990 + "@example.org", "too long"),
]


@pytest.mark.parametrize(("typed", "canonical"), SAME_ADDRESS)
def test_it_gives_every_spelling_of_an_address_one_canonical_form(typed, canonical):
    assert normalize_email(typed) == canonical
    assert canonical_email(typed) == canonical
    assert stored_email(typed) == canonical
    # Idempotent: the canonical form is its own canonical form.
    assert normalize_email(canonical) == canonical


def test_it_is_the_function_members_models_exports():
    assert reexported is normalize_email


@pytest.mark.parametrize(("typed", "reason"), REFUSED)
def test_it_refuses_an_address_without_a_canonical_form_with_the_reason(typed, reason):
    with pytest.raises(ValidationError) as refused:
        normalize_email(typed)
    [message] = refused.value.messages
    assert reason in message


@pytest.mark.parametrize(("typed", "reason"), REFUSED)
def test_its_lenient_variants_never_raise(typed, reason):
    assert canonical_email(typed) == ""
    assert stored_email(typed) == typed


@pytest.mark.parametrize("value", [None, "", "   ", 42, ["bo@example.org"], {"a": 1}])
def test_it_treats_a_blank_or_non_text_value_as_no_address(value):
    with pytest.raises(ValidationError):
        normalize_email(value)
    assert canonical_email(value) == ""
    assert stored_email(value) == ("" if not isinstance(value, str) else value)


def test_its_form_field_cleans_to_the_canonical_form_or_the_reason():
    field = EmailField()
    assert field.clean(" Bo@ＥＸＡＭＰＬＥ.org ") == "bo@example.org"
    with pytest.raises(ValidationError) as refused:
        field.clean('"bo"@example.org')
    assert "Quoting" in refused.value.messages[0]
    with pytest.raises(ValidationError):
        field.clean("")
    assert EmailField(required=False).clean("") == ""


@pytest.mark.django_db
def test_it_stores_users_and_members_in_the_canonical_form():
    user = UserFactory(email="Bo@ＥＸＡＭＰＬＥ.org")
    member = MemberFactory(user=user, email=" BO@exämple.org ")
    user.refresh_from_db()
    member.refresh_from_db()
    assert user.email == "bo@example.org"
    assert member.email == "bo@xn--exmple-cua.org"


@pytest.mark.django_db
def test_it_keeps_a_stored_address_without_a_canonical_form_as_it_is():
    member = MemberFactory(user=None, email='"Bo"@example.org')
    member.save()
    member.refresh_from_db()
    assert member.email == '"Bo"@example.org'


@pytest.mark.django_db
@pytest.mark.parametrize(("typed", "canonical"), SAME_ADDRESS)
def test_by_email_finds_the_member_under_any_spelling(typed, canonical):
    member = MemberFactory(user__email=canonical)
    assert Member.objects.by_email(typed) == member


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["", None, 7, "bo@example.org\u200b", '"bo"@example.org'])
def test_by_email_answers_none_for_what_is_no_members_address(value):
    MemberFactory(user__email="bo@example.org")
    MemberFactory(user=None, email="")
    assert Member.objects.by_email(value) is None


# The data migration.

migration = importlib.import_module("members.migrations.0005_canonical_emails")


def _insert_raw(table: str, pk: int, email: str) -> None:
    """Write an email as an older release or another tool left it (no save())."""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET email = %s WHERE id = %s", [email, pk])  # noqa: S608


def _migrate() -> list[str]:
    lines: list[str] = []
    with connection.schema_editor() as editor:
        migration.canonicalise_emails(apps, editor, report=lines.append)
    return lines


@pytest.mark.django_db
def test_the_migration_puts_member_user_and_address_emails_in_their_canonical_form():
    member = MemberFactory(user__email="bo@example.org")
    _insert_raw("members_member", member.pk, " Bo@ＥＸＡＭＰＬＥ.org")
    _insert_raw("members_user", member.user_id, "BO@EXAMPLE.ORG ")
    address = EmailAddress.objects.get(user=member.user)
    _insert_raw("account_emailaddress", address.pk, "bo@ＥＸＡＭＰＬＥ.org")
    untouched = MemberFactory(user__email="ada@example.org")

    lines = _migrate()

    member.refresh_from_db()
    assert member.email == "bo@example.org"
    assert member.duplicate_of is None
    assert User.objects.get(pk=member.user_id).email == "bo@example.org"
    assert EmailAddress.objects.get(pk=address.pk).email == "bo@example.org"
    assert Member.objects.get(pk=untouched.pk).email == "ada@example.org"
    assert "canonical emails: member rows changed 1, duplicates 0, kept 0" in lines


@pytest.mark.django_db
def test_the_migration_marks_a_member_whose_canonical_form_is_held_and_keeps_its_text():
    holder = MemberFactory(user__email="bo@example.org")
    twin = MemberFactory(user=None, email="placeholder@example.org")
    _insert_raw("members_member", twin.pk, "Bo@ＥＸＡＭＰＬＥ.org")

    lines = _migrate()

    twin.refresh_from_db()
    assert twin.email == "Bo@ＥＸＡＭＰＬＥ.org"
    assert twin.duplicate_of_id == holder.pk
    assert Member.objects.count() == 2  # reported, never merged
    assert (
        f"canonical emails: member #{twin.pk} kept its email: member #{holder.pk} "
        "already holds its canonical form"
    ) in lines
    # The report names rows, never their addresses.
    assert not any("Bo@" in line or "bo@" in line for line in lines)


@pytest.mark.django_db
def test_the_migration_gives_the_canonical_form_to_the_first_of_two_new_spellings():
    first = MemberFactory(user=None, email="a@example.org")
    second = MemberFactory(user=None, email="b@example.org")
    _insert_raw("members_member", first.pk, "Bo@exämple.org")
    _insert_raw("members_member", second.pk, "bo@ＥＸÄＭＰＬＥ.org")

    _migrate()

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.email == "bo@xn--exmple-cua.org"
    assert (second.email, second.duplicate_of_id) == ("bo@ＥＸÄＭＰＬＥ.org", first.pk)


@pytest.mark.django_db
def test_the_migration_keeps_and_reports_an_address_email_validator_refuses():
    member = MemberFactory(user=None, email="x@example.org")
    _insert_raw("members_member", member.pk, '"Bo"@Example.org')

    lines = _migrate()

    member.refresh_from_db()
    assert member.email == '"Bo"@Example.org'
    assert member.duplicate_of is None
    [line] = [line for line in lines if f"#{member.pk} " in line]
    assert line.startswith(f"canonical emails: member #{member.pk} kept its email: Quoting")


@pytest.mark.django_db
def test_the_migration_leaves_a_user_whose_canonical_form_another_user_holds():
    UserFactory(email="bo@example.org")
    other = UserFactory(email="other@example.org", verified_address=False)
    _insert_raw("members_user", other.pk, "bo@ｅｘａｍｐｌｅ.org")

    lines = _migrate()

    assert User.objects.get(pk=other.pk).email == "bo@ｅｘａｍｐｌｅ.org"
    assert any(line.startswith(f"canonical emails: user #{other.pk} kept") for line in lines)


@pytest.mark.django_db
def test_the_migration_changes_nothing_on_canonical_rows_and_reports_nothing():
    MemberFactory.create_batch(3)
    MemberFactory(user=None, email="")
    assert _migrate() == []
