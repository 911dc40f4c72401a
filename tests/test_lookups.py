"""Email and username lookups use the Lower(...) indexes (docs/shapes.md): every project
queryset for them filters on `LOWER(<column>)` with the indexes' `<> ''` condition, never
`__iexact` (UPPER, which no index serves), and PostgreSQL answers each from its index."""

import pathlib
import re

import pytest
from allauth.account.models import EmailAddress
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members import logins
from members import services as member_services
from members.lookups import email_addresses_with
from members.models import Member, User
from signup import services as signup_services
from tests.factories import MemberFactory

EMAIL = "bo@example.org"
USERNAME = "Bo_Example"
ROOT = pathlib.Path(__file__).resolve().parent.parent

# Each project queryset for an email or username lookup, with the index that serves it.
QUERYSETS = {
    "Member.objects.with_email": (
        lambda: Member.objects.with_email(EMAIL),
        "member_email_ci_unique",
    ),
    "Member.objects.with_username": (
        lambda: Member.objects.with_username(USERNAME),
        "member_username_ci_unique",
    ),
    "User.objects.with_email": (lambda: User.objects.with_email(EMAIL), "user_email_ci_unique"),
    "User.objects.with_username": (
        lambda: User.objects.with_username(USERNAME),
        "user_username_ci_unique",
    ),
    "email_addresses_with": (
        lambda: email_addresses_with(EMAIL),
        "account_emailaddress_email_ci_idx",
    ),
    "email_holders (User)": (
        lambda: logins.email_holders(EMAIL)[0],
        "user_email_ci_unique",
    ),
    "email_holders (Member)": (
        lambda: logins.email_holders(EMAIL)[1],
        "member_email_ci_unique",
    ),
    "email_holders (EmailAddress)": (
        lambda: logins.email_holders(EMAIL)[2],
        "account_emailaddress_email_ci_idx",
    ),
    "username_holders (User)": (
        lambda: logins.username_holders(USERNAME)[0],
        "user_username_ci_unique",
    ),
    "username_holders (Member)": (
        lambda: logins.username_holders(USERNAME)[1],
        "member_username_ci_unique",
    ),
    # allauth's own lookups are exact, on the lower-cased address: plain indexes.
    "allauth EmailAddress email = x": (
        lambda: EmailAddress.objects.filter(email=EMAIL),
        "account_emailaddress_email_03be32b2",
    ),
    "allauth User email = x": (lambda: User.objects.filter(email=EMAIL), "members_user_email_idx"),
}


def _assert_lower_lookup(sql: str) -> None:
    assert "LOWER(" in sql, sql
    assert "UPPER(" not in sql, sql


@pytest.mark.django_db
@pytest.mark.parametrize("name", [n for n in QUERYSETS if not n.startswith("allauth")])
def test_its_lookup_querysets_filter_on_lower_with_the_indexes_condition(name):
    queryset, _ = QUERYSETS[name]
    sql, params = queryset().query.sql_with_params()
    _assert_lower_lookup(sql)
    column = "username" if "username" in name else "email"
    # The partial unique indexes hold only rows with a value: the lookup says so too,
    # or PostgreSQL cannot use them.
    assert re.search(rf'NOT \("\w+"\."{column}" = %s\)', sql), sql
    assert "" in params


def _fill_lookup_tables(rows: int = 2000) -> None:
    """Rows enough that the planner's costs tell the indexes apart: on empty tables a
    whole-index scan with a filter can cost the same as the index lookup, and which one
    PostgreSQL takes then differs between versions."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO members_user (password, is_superuser, username, first_name,"
            " last_name, email, is_staff, is_active, date_joined)"
            " SELECT '!', false, 'u' || n, '', '', 'u' || n || '@example.org', false, true,"
            " now() FROM generate_series(1, %s) AS n",
            [rows],
        )
        cursor.execute(
            'INSERT INTO account_emailaddress (user_id, email, verified, "primary")'
            " SELECT id, email, true, true FROM members_user WHERE username LIKE 'u%%'"
        )
        cursor.execute(
            "INSERT INTO members_member (email, username, billing_ref, identity, date_added,"
            " date_modified) SELECT 'm' || n || '@example.org', 'm' || n, 'ref_fill_' || n,"
            " '{}'::jsonb, now(), now() FROM generate_series(1, %s) AS n",
            [rows],
        )
        cursor.execute("ANALYZE members_user, account_emailaddress, members_member")


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(QUERYSETS))
def test_postgresql_answers_each_lookup_from_its_index(name):
    queryset, index = QUERYSETS[name]
    _fill_lookup_tables()
    with connection.cursor() as cursor:
        # This asks whether an index can answer the query at all, not whether the
        # planner prefers it on these tables.
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = queryset().explain()
    assert index in plan, plan
    assert "Seq Scan" not in plan, plan


@pytest.mark.django_db
def test_postgresql_picks_the_index_unprompted_on_a_table_of_thousands():
    MemberFactory(user__email=EMAIL, user__username=USERNAME)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO members_member (email, username, billing_ref, identity, date_added,"
            " date_modified) SELECT 'm' || n || '@example.org', 'm' || n, 'ref_lookups_' || n,"
            " '{}'::jsonb, now(), now() FROM generate_series(1, 5000) AS n"
        )
        cursor.execute("ANALYZE members_member")
    plan = Member.objects.with_email(EMAIL).explain()
    assert "member_email_ci_unique" in plan, plan
    assert Member.objects.with_email("BO@example.org").get().email == EMAIL


@pytest.mark.django_db
def test_the_lookups_find_rows_ignoring_case_and_never_a_blank_value():
    member = MemberFactory(user__email=EMAIL, user__username=USERNAME)
    MemberFactory(user=None, email="", username="")
    assert list(Member.objects.with_email("BO@EXAMPLE.ORG")) == [member]
    assert list(Member.objects.with_username("bo_example")) == [member]
    assert list(User.objects.with_email("Bo@Example.org")) == [member.user]
    assert list(email_addresses_with("bO@example.org").values_list("user_id", flat=True)) == [
        member.user_id
    ]
    for blank in ("", None):
        assert not Member.objects.with_email(blank).exists()
        assert not Member.objects.with_username(blank).exists()


@pytest.mark.django_db
def test_the_natural_key_lookup_ignores_case_through_the_index():
    member = MemberFactory(user__username=USERNAME)
    with CaptureQueriesContext(connection) as queries:
        assert User.objects.get_by_natural_key("BO_EXAMPLE") == member.user
    [query] = queries.captured_queries
    _assert_lower_lookup(query["sql"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "call",
    [
        lambda: signup_services.email_registered(EMAIL),
        lambda: signup_services.username_taken(USERNAME),
        lambda: Member.objects.by_email(EMAIL),
        lambda: member_services.login_clashes(
            member=MemberFactory.build(pk=10**9, user_id=10**9), email=EMAIL, username=USERNAME
        ),
    ],
    ids=["email_registered", "username_taken", "by_email", "login_clashes"],
)
def test_every_query_of_the_lookup_functions_uses_lower(call):
    with CaptureQueriesContext(connection) as queries:
        call()
    assert queries.captured_queries
    for query in queries.captured_queries:
        _assert_lower_lookup(query["sql"])


IEXACT_ON_LOGIN_COLUMNS = re.compile(r"\b(email|username)__iexact\b")


def test_no_code_looks_up_an_email_or_username_with_iexact():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for app in ("members", "dashboard", "signup", "billing", "legacy", "integrations")
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if IEXACT_ON_LOGIN_COLUMNS.search(line)
    ]
    assert offenders == []
