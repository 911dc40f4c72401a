"""The merge page in admin: from a duplicate's page or two selected members, both side
by side, a radio per column, the member that stays; POST merges; who may."""

import re

import pytest
from django.contrib.auth.models import Permission

from members.models import Member, RfidTag
from tests.factories import MemberFactory, UserFactory, logged_in
from tests.staff.conftest import XSS, XSS_ESCAPED, messages_of

pytestmark = pytest.mark.django_db

LIST = "/admin/members/member/"


def page_url(member, other):
    return f"{LIST}{member.pk}/merge/?with={other.pk}"


def pair():
    holder = MemberFactory(access={"rfid_tags": ["0000000001"]})
    twin = MemberFactory(
        user=None,
        email="",
        username="alicia",
        duplicate_of=holder,
        access={"rfid_tags": ["0000000002"]},
        identity={
            "first_name": "Alicia",
            "emails": [{"type": "primary", "email_address": "a@x.org"}],
        },
    )
    return holder, twin


def merge_post(client, first, second, *, survivor, **choices):
    data = {"with": second.pk, "survivor": survivor.pk}
    data.update({f"choice_{field}": m.pk for field, m in choices.items()})
    return client.post(f"{LIST}{first.pk}/merge/", data, follow=True)


def test_it_links_a_duplicates_page_to_its_holder_and_offers_the_merge(as_superuser):
    holder, twin = pair()
    page = as_superuser.get(f"{LIST}{twin.pk}/change/").content.decode()
    assert f'href="/admin/members/member/{holder.pk}/change/"' in page
    assert f'href="/admin/members/member/{twin.pk}/merge/?with={holder.pk}"' in page
    assert f"Merge with #{holder.pk}" in page


def test_it_lists_possible_duplicates_and_their_holders(as_superuser):
    holder, twin = pair()
    bystander = MemberFactory()
    response = as_superuser.get(LIST, {"duplicates": "yes"})
    shown = {m.pk for m in response.context["cl"].result_list}
    assert shown == {holder.pk, twin.pk}
    assert bystander.pk not in shown
    only = as_superuser.get(LIST, {"duplicates": "only"})
    assert {m.pk for m in only.context["cl"].result_list} == {twin.pk}
    assert "By possible duplicates" in response.content.decode()


def test_it_shows_both_members_side_by_side_with_a_radio_per_differing_key(as_superuser):
    holder, twin = pair()
    response = as_superuser.get(page_url(twin, holder))
    assert response.status_code == 200
    assert "admin/members/member/merge.html" in [t.name for t in response.templates]
    page = response.content.decode()
    for choice in ("email", "username", "identity.first_name", "identity.last_name"):
        assert page.count(f'name="choice_{choice}"') == 2
    # A key both hold the same is not asked about; none is shown as a JSON blob.
    assert 'name="choice_connections.phone"' not in page
    assert 'name="choice_identity"' not in page
    assert "<legend>First name</legend>" in page
    assert "<legend>Last name</legend>" in page
    # The holder stays by default; a value beats an empty one whoever has it.
    assert f'name="survivor" value="{holder.pk}" checked' in page
    assert f'name="choice_email" value="{holder.pk}" checked' in page
    # Both have a username: the one with the login keeps its own.
    assert f'name="choice_username" value="{holder.pk}" checked' in page
    assert 'name="merge"' in page


def test_it_merges_on_post_and_says_so(as_superuser, superuser):
    holder, twin = pair()
    response = merge_post(as_superuser, twin, holder, survivor=holder, username=twin)
    assert response.redirect_chain[-1][0] == f"{LIST}{holder.pk}/change/"
    assert any(
        m.startswith(f"Merged member #{twin.pk} into #{holder.pk}") for m in messages_of(response)
    )
    holder.refresh_from_db()
    assert holder.username == "alicia"
    assert sorted(holder.access["rfid_tags"]) == ["0000000001", "0000000002"]
    assert set(RfidTag.objects.filter(member=holder).values_list("tag", flat=True)) == {
        "0000000001",
        "0000000002",
    }
    last = holder.events.select_related("pgh_context").order_by("pgh_id").last()
    assert last.pgh_context.metadata["source"] == "merge"
    assert last.pgh_context.metadata["user"] == superuser.pk
    # The merged record is no longer a possible duplicate, and the survivor's page and
    # history link it.
    listed = as_superuser.get(LIST, {"duplicates": "yes"}).context["cl"].result_list
    assert list(listed) == []
    change = as_superuser.get(f"{LIST}{holder.pk}/change/").content.decode()
    assert f'href="/admin/members/member/{twin.pk}/history/"' in change
    history = as_superuser.get(f"{LIST}{holder.pk}/history/").content.decode()
    assert f'href="/admin/members/member/{twin.pk}/history/"' in history
    twin_history = as_superuser.get(f"{LIST}{twin.pk}/history/")
    assert twin_history.status_code == 200
    assert "alicia" in twin_history.content.decode()


def test_it_shows_the_reason_of_a_refusal_and_merges_nothing(as_superuser):
    holder = MemberFactory(status={"membership_status": "active", "stripe_customer_id": "cus_A"})
    other = MemberFactory(status={"membership_status": "active", "stripe_customer_id": "cus_B"})
    page = as_superuser.get(page_url(holder, other)).content.decode()
    assert "Both members have a Stripe customer" in page
    assert 'name="merge"' not in page

    response = merge_post(as_superuser, holder, other, survivor=holder)
    assert any(
        "Not merged: Both members have a Stripe customer" in m for m in messages_of(response)
    )
    assert Member.objects.get(pk=other.pk).email == other.email


def test_it_offers_the_merge_as_an_action_on_two_selected_members(as_superuser):
    holder, twin = pair()
    response = as_superuser.post(
        LIST, {"action": "merge_two_members", "index": 0, "_selected_action": [holder.pk, twin.pk]}
    )
    assert response.status_code == 302
    assert response["Location"] == page_url(twin, holder)


def test_it_asks_for_exactly_two_members(as_superuser):
    members = [MemberFactory() for _ in range(3)]
    response = as_superuser.post(
        LIST,
        {"action": "merge_two_members", "index": 0, "_selected_action": [m.pk for m in members]},
        follow=True,
    )
    assert "Select exactly two members to merge." in messages_of(response)


def test_it_shows_view_only_staff_the_page_disabled_and_refuses_their_post(as_viewer):
    holder, twin = pair()
    page = as_viewer.get(page_url(twin, holder))
    assert page.status_code == 200
    text = page.content.decode()
    assert "<fieldset disabled>" in text
    assert 'name="merge"' not in text
    response = as_viewer.post(f"{LIST}{twin.pk}/merge/", {"with": holder.pk, "survivor": holder.pk})
    assert response.status_code == 403
    assert Member.objects.get(pk=twin.pk).duplicate_of_id == holder.pk


def test_it_refuses_a_post_without_the_csrf_token():
    staff = UserFactory(is_staff=True, is_superuser=True)
    holder, twin = pair()
    client = logged_in(staff, enforce_csrf_checks=True)
    response = client.post(f"{LIST}{twin.pk}/merge/", {"with": holder.pk, "survivor": holder.pk})
    assert response.status_code == 403
    assert Member.objects.get(pk=twin.pk).duplicate_of_id == holder.pk


def test_it_refuses_staff_without_member_permissions(client):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    holder, twin = pair()
    client.force_login(staff)
    assert client.get(page_url(twin, holder)).status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "abc/merge/?with=1",
        "0/merge/?with=1",
        "99999999999999999999999/merge/?with=1",
        "{pk}/merge/?with=x",
        "{pk}/merge/?with={pk}",
        "{pk}/merge/",
    ],
)
def test_it_never_answers_odd_urls_with_an_error(as_superuser, path):
    member = MemberFactory()
    response = as_superuser.get(LIST + path.format(pk=member.pk))
    assert response.status_code in (302, 404)


def test_it_never_breaks_on_odd_posted_choices(as_superuser):
    holder, twin = pair()
    response = as_superuser.post(
        f"{LIST}{twin.pk}/merge/",
        {"with": holder.pk, "survivor": "x", "choice_email": "99", "choice_status": ""},
        follow=True,
    )
    assert response.status_code == 200
    assert "Not merged: Choose the member that stays." in messages_of(response)


def test_it_escapes_member_text_on_the_page(as_superuser):
    holder, twin = pair()
    Member.objects.filter(pk=twin.pk).update(identity={"first_name": XSS})
    page = as_superuser.get(page_url(twin, holder)).content.decode()
    assert XSS not in page
    assert XSS_ESCAPED in page


def test_it_lists_a_merged_record_as_merged_into_the_survivor_only_when_asked(as_superuser):
    holder, twin = pair()
    bystander = MemberFactory()
    merge_post(as_superuser, twin, holder, survivor=holder)

    default = as_superuser.get(LIST).context["cl"].result_list
    assert {m.pk for m in default} == {holder.pk, bystander.pk}
    shown = as_superuser.get(LIST, {"merged": "with"})
    assert {m.pk for m in shown.context["cl"].result_list} == {holder.pk, twin.pk, bystander.pk}
    cells = re.findall(r'<td class="field-membership">([^<]*)</td>', shown.content.decode())
    assert sorted(cells) == ["active", "active", f"merged into #{holder.pk}"]
    only = as_superuser.get(LIST, {"merged": "only"}).context["cl"].result_list
    assert [m.pk for m in only] == [twin.pk]
    # Its own page still opens.
    assert as_superuser.get(f"{LIST}{twin.pk}/change/").status_code == 200


def test_it_keeps_the_stripe_customers_billing_details_out_of_the_choice(as_superuser):
    holder, twin = pair()
    Member.objects.filter(pk=twin.pk).update(
        status={"membership_status": "pending", "stripe_customer_id": "cus_TWIN"}
    )
    page = as_superuser.get(page_url(twin, holder)).content.decode()

    assert re.search(rf'name="choice_status.stripe_customer_id" value="{twin.pk}" checked>', page)
    assert re.search(
        rf'name="choice_status.stripe_customer_id" value="{holder.pk}" disabled>', page
    )
    # The stronger status is proposed all the same.
    assert f'name="choice_status.membership_status" value="{holder.pk}" checked' in page
