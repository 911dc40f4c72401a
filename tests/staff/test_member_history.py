"""The member's audit history page: every write by any path, with source, user, time
and what changed; escaped; reachable from the member page; staff only."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.audit import audit
from members.models import Member
from tests.factories import MemberFactory
from tests.staff.conftest import XSS, XSS_ESCAPED


def _url(member):
    return f"/admin/members/member/{member.pk}/history/"


def _rows(client, member):
    response = client.get(_url(member))
    assert response.status_code == 200
    return list(response.context["page"].object_list)


@pytest.mark.django_db
def test_it_is_linked_from_the_member_page(as_superuser):
    member = MemberFactory()
    html = as_superuser.get(f"/admin/members/member/{member.pk}/change/").content.decode()
    assert f'href="{_url(member)}"' in html


# Committed writes, as in production: pghistory's context lives for a transaction, so
# inside one test transaction it would also label the final unlabelled write.
@pytest.mark.django_db(transaction=True)
def test_it_shows_every_write_by_any_path_with_source_and_user(as_superuser, superuser):
    with audit("signup"):
        member = MemberFactory(notes=None)
    with audit("member", member.user):
        Member.objects.filter(pk=member.pk).merge_json(
            "connections", {"phone": "555 0199"}, user=member.user
        )
    with audit("webhook"):
        Member.objects.filter(pk=member.pk).merge_json("status", {"subscription_status": "active"})
    data = {"action": "repair_members", "index": 0, "_selected_action": [member.pk]}
    as_superuser.post("/admin/members/member/", data)
    fresh = Member.objects.get(pk=member.pk)
    form = {"email": fresh.email, "username": "renamed", "_save": "Save"}
    for column in ("identity", "status", "connections", "forms", "notes", "access"):
        form[column] = form[f"initial-{column}"] = json.dumps(getattr(fresh, column))
    for column in ("authorizations", "extras"):
        form[column] = form[f"initial-{column}"] = json.dumps(getattr(fresh, column))
    url = f"/admin/members/member/{member.pk}/change/?advanced=1"
    assert as_superuser.post(url, form).status_code == 302
    Member.objects.filter(pk=member.pk).update(extras={"storage_id": 7, "storage_area": "C"})

    rows = list(reversed(_rows(as_superuser, member)))

    assert [(r["source"], r["user"]) for r in rows] == [
        ("signup", None),
        ("member", member.user),
        ("webhook", None),
        ("repair", superuser),
        ("staff", superuser),
        ("unlabelled", None),
    ]
    # Each change by its label, old -> new, in words.
    assert ("Phone", "+1 555 0100", "555 0199") in rows[1]["changes"]
    assert ("Subscription status", "empty", "active") in rows[2]["changes"]
    assert ("Notes", "not set up", "set up") in rows[3]["changes"]
    assert ("Username", member.username, "renamed") in rows[4]["changes"]
    assert ("Storage slot", "not set", "7") in rows[5]["changes"]
    assert all(r["time"] is not None for r in rows)
    who = [r["who"] for r in rows]
    name = superuser.get_full_name()
    assert who == [
        "signup",
        f"{member.user.get_full_name()} (the member)",
        "Stripe (webhook)",
        f"{name} (repair)",
        f"{name} (staff)",
        "outside the portal (e.g. SQL)",
    ]
    html = as_superuser.get(_url(member)).content.decode()
    assert "Phone: <del>+1 555 0100</del> → <ins>555 0199</ins>" in html
    assert "connections.phone" not in html and "{" not in html.split("history-changes", 1)[1]


@pytest.mark.django_db
def test_it_shows_an_appended_note_as_added(as_superuser):
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).append_note("Paid in cash", author="staff0")
    changes = _rows(as_superuser, member)[0]["changes"]
    assert len(changes) == 1
    what, before, after = changes[0]
    assert (what, before) == ("Note added", None)
    assert after.startswith("Paid in cash (staff0, ")


@pytest.mark.django_db(transaction=True)
def test_it_shows_a_raw_sql_write(as_superuser):
    member = MemberFactory()
    with connection.cursor() as cursor:
        cursor.execute("""UPDATE members_member SET forms = NULL WHERE id = %s""", [member.pk])
    row = _rows(as_superuser, member)[0]
    assert row["source"] == "unlabelled"
    assert row["changes"][0][0] == "Forms and checks"
    assert row["changes"][0][2] == "not set"


@pytest.mark.django_db
def test_it_escapes_member_text_in_the_history(as_superuser):
    member = MemberFactory()
    member.identity["first_name"] = XSS
    member.notes = [{"note": XSS, "from": XSS, "timestamp": "2026-01-01T00:00:00"}]
    member.save()
    html = as_superuser.get(_url(member)).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert XSS_ESCAPED in html


@pytest.mark.django_db
def test_it_uses_as_many_queries_for_many_events_as_for_few(as_superuser):
    member = MemberFactory()

    def count():
        with CaptureQueriesContext(connection) as queries:
            as_superuser.get(_url(member))
        return len(queries)

    with audit("member", member.user):
        Member.objects.filter(pk=member.pk).append_note("first", author="x")
    few = count()
    for i in range(20):
        with audit("staff", member.user):
            Member.objects.filter(pk=member.pk).append_note(f"note {i}", author="x")
    assert count() == few


@pytest.mark.django_db
def test_it_shows_the_history_to_a_superuser(as_superuser):
    member = MemberFactory()
    assert len(_rows(as_superuser, member)) == 1


@pytest.mark.django_db
def test_it_shows_the_history_to_view_only_staff(as_viewer):
    member = MemberFactory()
    assert len(_rows(as_viewer, member)) == 1


def _assert_history_sent_to_login(client):
    response = client.get(_url(MemberFactory()))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_it_refuses_the_history_to_non_staff(as_outsider):
    _assert_history_sent_to_login(as_outsider)


@pytest.mark.django_db
def test_it_refuses_the_history_to_anonymous_visitors(client):
    _assert_history_sent_to_login(client)
