"""The member list: columns, the scaffolding, status and onboarding filters, search,
the partial notice, escaping, permissions and a query count independent of size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import Member
from members.scaffolding import NULLABLE_COLUMNS
from tests.factories import MemberFactory
from tests.staff.conftest import XSS, XSS_ESCAPED

URL = "/admin/members/member/"


def _listed(client, query=""):
    response = client.get(URL + query)
    assert response.status_code == 200
    return {m.pk for m in response.context["cl"].result_list}


@pytest.fixture
def scaffolding_members():
    """One member missing each nullable column in turn, one whose status lacks
    membership_status, one with it JSON null, and two complete members."""
    missing = {column: MemberFactory(**{column: None}) for column in NULLABLE_COLUMNS}
    lacking = MemberFactory()
    del lacking.status["membership_status"]
    lacking.save()
    null_status = MemberFactory()
    null_status.status["membership_status"] = None
    null_status.save()
    complete = {MemberFactory().pk, MemberFactory(membership="pending").pk}
    return missing, {lacking.pk, null_status.pk}, complete


@pytest.mark.django_db
def test_it_lists_each_partial_member_under_partial_and_its_own_missing_option(
    as_superuser, scaffolding_members
):
    missing, lacking_status, complete = scaffolding_members
    partial_ids = {m.pk for m in missing.values()} | lacking_status

    assert _listed(as_superuser, "?scaffolding=partial") == partial_ids
    for column, member in missing.items():
        listed = _listed(as_superuser, f"?scaffolding=missing_{column}")
        assert member.pk in listed
        assert not listed & complete
    assert _listed(as_superuser, "?scaffolding=missing_membership_status") == lacking_status
    assert _listed(as_superuser, "?scaffolding=complete") == complete


@pytest.mark.django_db
def test_it_filters_with_the_same_rows_as_the_partial_queryset(as_superuser, scaffolding_members):
    assert _listed(as_superuser, "?scaffolding=partial") == set(
        Member.objects.partial().values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_it_uses_the_partial_index_for_the_partial_filter(as_superuser, scaffolding_members):
    # Make the planner prefer any usable index even on a tiny table.
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    with CaptureQueriesContext(connection) as queries:
        # With merged records included: the default list's `merged_into IS NULL` is
        # served by the merged_into index as well, and on a table this small, with
        # sequential scans off, the planner picks either.
        as_superuser.get(URL + "?scaffolding=partial&merged=with")
    listing = [q["sql"] for q in queries if "ORDER BY" in q["sql"] and "members_member" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + listing[-1])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "member_partial_idx" in plan


@pytest.mark.django_db
def test_it_shows_the_columns_with_the_missing_ones_named(as_superuser):
    member = MemberFactory(notes=None, extras=None)
    response = as_superuser.get(URL)
    html = response.content.decode()
    for header in ("ID", "Name", "Email", "Username", "Membership status", "Missing", "Date added"):
        assert f">{header}</a>" in html or f">{header}</span>" in html
    row = html[html.index(f'value="{member.pk}"') :]
    row = row[: row.index("</tr>")]
    for text in (
        "Ada Lovelace",
        member.email,
        member.username,
        "active",
        "notes not set up, storage not set up",
    ):
        assert text in row


@pytest.mark.django_db
def test_it_filters_by_membership_status(as_superuser):
    banned = MemberFactory(membership="banned")
    active = MemberFactory(membership="ACTIVE")
    no_status = MemberFactory(status=None)
    assert _listed(as_superuser, "?membership=banned") == {banned.pk}
    assert _listed(as_superuser, "?membership=active") == {active.pk}
    assert _listed(as_superuser, "?membership=none") == {no_status.pk}


@pytest.mark.django_db
def test_it_filters_paid_members_awaiting_activation(as_superuser):
    paid = []
    for subscription in ("active", "trialing"):
        member = MemberFactory(membership="pending")
        member.status["subscription_status"] = subscription
        member.save()
        paid.append(member.pk)
    unpaid = MemberFactory(membership="pending")
    unpaid.status["subscription_status"] = "incomplete"
    unpaid.save()
    active = MemberFactory(membership="active")
    active.status["subscription_status"] = "active"
    active.save()
    assert _listed(as_superuser, "?onboarding=awaiting") == set(paid)


@pytest.mark.django_db
def test_it_searches_by_name_email_username_and_rfid_tag(as_superuser):
    ada = MemberFactory()
    grace = MemberFactory(user__username="ghopper")
    grace.identity.update(first_name="Grace", last_name="Hopper")
    grace.access = {"rfid_tags": ["0012345678"]}
    grace.save()
    assert _listed(as_superuser, "?q=grace+hopper") == {grace.pk}
    assert _listed(as_superuser, "?q=Lovelace") == {ada.pk}
    assert _listed(as_superuser, f"?q={ada.email.upper()}") == {ada.pk}
    assert _listed(as_superuser, "?q=ghopp") == {grace.pk}
    assert _listed(as_superuser, "?q=0012345678") == {grace.pk}
    # Tags are compared in their 10-digit form, so the unpadded tag finds it too.
    assert _listed(as_superuser, "?q=12345678") == {grace.pk}
    assert _listed(as_superuser, "?q=nobody-by-this-name") == set()


@pytest.mark.django_db
def test_it_shows_a_notice_with_the_number_of_partial_members(as_superuser):
    MemberFactory(notes=None)
    MemberFactory(status=None)
    MemberFactory()
    html = as_superuser.get(URL).content.decode()
    assert "2 members are partial" in html
    assert 'href="/admin/members/member/?scaffolding=partial"' in html


@pytest.mark.django_db
def test_it_shows_no_notice_when_every_member_is_complete(as_superuser):
    MemberFactory()
    assert "members are partial" not in as_superuser.get(URL).content.decode()
    assert "member is partial" not in as_superuser.get(URL).content.decode()


@pytest.mark.django_db
def test_it_escapes_member_text_in_the_list(as_superuser):
    member = MemberFactory()
    member.identity["first_name"] = XSS
    member.save()
    html = as_superuser.get(URL).content.decode()
    assert XSS not in html
    assert XSS_ESCAPED in html


@pytest.mark.django_db
def test_it_escapes_a_search_for_markup_such_as_a_pasted_tag(as_superuser):
    MemberFactory()
    response = as_superuser.get(URL, {"q": XSS})
    assert response.status_code == 200
    html = response.content.decode()
    assert XSS not in html
    assert "&lt;script&gt;" in html


@pytest.mark.django_db
def test_it_uses_as_many_queries_for_fifty_members_as_for_five(as_superuser):
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert as_superuser.get(URL).status_code == 200
        with CaptureQueriesContext(connection) as partial_queries:
            assert as_superuser.get(URL + "?scaffolding=partial").status_code == 200
        return len(queries), len(partial_queries)

    for i in range(5):
        MemberFactory(notes=None if i % 2 else [])
    five = count()
    for i in range(45):
        MemberFactory(notes=None if i % 2 else [])
    assert count() == five


@pytest.mark.django_db
def test_it_shows_the_list_to_a_superuser(as_superuser):
    member = MemberFactory()
    assert member.pk in _listed(as_superuser)


@pytest.mark.django_db
def test_it_shows_the_list_to_view_only_staff_without_actions(as_viewer):
    member = MemberFactory()
    response = as_viewer.get(URL)
    assert member.pk in {m.pk for m in response.context["cl"].result_list}
    assert response.context["action_form"] is None


@pytest.mark.django_db
def test_it_refuses_the_list_to_non_staff(as_outsider):
    response = as_outsider.get(URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_it_refuses_the_list_to_anonymous_visitors(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "email__exact=%00",
        "date_added__year=99999",
        "date_added__year=0",
        "id__exact=abc",
        # PostgreSQL checks a pattern only when the query runs.
        "email__regex=(",
        "status__membership_status__iregex=[",
    ],
)
def test_it_answers_a_crafted_list_query_without_an_error(as_superuser, query):
    MemberFactory()
    response = as_superuser.get(f"/admin/members/member/?{query}")
    assert response.status_code in (200, 302, 400)


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["email__exact=%00", "email__regex=(", "username__iregex=*"])
def test_it_answers_a_crafted_user_list_query_without_an_error(as_superuser, query):
    MemberFactory()
    response = as_superuser.get(f"/admin/members/user/?{query}")
    assert response.status_code in (200, 302, 400)


@pytest.mark.django_db
def test_it_names_what_is_missing_in_words_in_the_filter(as_superuser):
    MemberFactory()
    filters = as_superuser.get(URL).content.decode().split('id="changelist-filter"', 1)[1]
    for words in ("No status", "Membership not set up", "Notes not set up"):
        assert words in filters
    assert "membership_status" not in filters.replace("scaffolding=missing_membership_status", "")
    assert "Missing notes" not in filters
