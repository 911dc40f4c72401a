"""Erasure (README, "Privacy"): the member's personal data is gone from every table, what must
be kept stays, a ban survives, and refusals write nothing."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import connection

from billing.models import StripeEvent, Subscription
from integrations.models import Delivery, Endpoint, FeedEvent
from integrations.services import access_key_create, feed_pump
from legacy.models import ImportedRow
from legacy.services import erased_ban_matches
from members.erasure import (
    LIVE_SUBSCRIPTION_REFUSAL,
    ErasureRefused,
    erasure_request_open,
    is_erased_ban,
    member_erase,
)
from members.grants import authorization_grant
from members.merge import MERGED_AWAY_Q, member_merge
from members.models import (
    Authorization,
    BannedEmailHash,
    EmailChangeMail,
    ErasureRequest,
    Member,
    Notification,
    User,
)
from members.notifications import notification_create
from signup.models import SignupMail
from signup.services import EmailTaken, email_registered, member_signup
from tests.factories import (
    DoorEventFactory,
    MemberFactory,
    StaffFactory,
    UserFactory,
    logged_in,
)

pytestmark = pytest.mark.django_db

EMAIL = "zq-erase@example.org"
NEW_EMAIL = "zq-newaddr@example.org"
USERNAME = "zquixw"
FIRST, LAST = "Zebulon", "Quixwright"
PHONE = "+1 555 0199 77"
BIRTHDAY = "1987-03-21"
TAG = "0098765432"
ID_NUMBER = "DL-77881234"
NOTE = "owes a soldering iron"
# What no table may hold after erasure (text-cast rows, case-insensitive).
NEEDLES = (
    FIRST,
    LAST,
    "zq-erase",
    "zq-newaddr",
    USERNAME,
    "555 0199",
    BIRTHDAY,
    TAG,
    ID_NUMBER,
    NOTE,
)
# The billing event log keeps what Stripe sent (README, "Privacy").
EXCEPTED_TABLES = {"billing_stripeevent"}
CUSTOMER, SUBSCRIPTION = "cus_ZqKeep01", "sub_ZqKeep01"


def _tables_holding(needles) -> dict[str, list[str]]:
    """Every table in the database (from the catalog) whose rows, cast to text, hold
    one of the needles: table -> the needles found."""
    found: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename), tablename"
            " FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        tables = cursor.fetchall()
        for qualified, name in tables:
            if name in EXCEPTED_TABLES:
                continue
            for needle in needles:
                cursor.execute(
                    f"SELECT EXISTS (SELECT 1 FROM {qualified} AS r"  # noqa: S608 - catalog names
                    " WHERE strpos(lower(r::text), lower(%s)) > 0)",
                    [needle],
                )
                if cursor.fetchone()[0]:
                    found.setdefault(name, []).append(needle)
    return found


def _person(membership="lapsed", **kwargs):
    user = UserFactory(username=USERNAME, email=EMAIL, first_name=FIRST, last_name=LAST)
    member = MemberFactory(user=user, membership=membership, **kwargs)
    Member.objects.filter(pk=member.pk).update(
        identity={
            **member.identity,
            "first_name": FIRST,
            "last_name": LAST,
            "nickname": "Zeb",
            "birthday": BIRTHDAY,
            "emails": [{"type": "primary", "email_address": EMAIL}],
            "active_directory_username": USERNAME,
        },
        connections={"phone": PHONE, "discord_username": USERNAME},
        forms={**member.forms, "id_check_1": "IL", "id_check_2": ID_NUMBER},
        status={
            **member.status,
            "stripe_customer_id": CUSTOMER,
            "stripe_subscription_id": SUBSCRIPTION,
            "subscription_status": "canceled",
        },
    )
    Member.objects.filter(pk=member.pk).append_note(NOTE, author="staff")
    Member.objects.filter(pk=member.pk).add_rfid_tag(TAG)
    member.refresh_from_db()
    return member


def _copies_everywhere(member):
    """Put the person's data in every other place the portal keeps a copy."""
    endpoint = Endpoint.objects.create(name="door", url="http://127.0.0.1:9/", secret="s")
    feed_pump()
    Delivery.objects.filter(member_id=member.pk).update(last_answer=f"500 no such user {USERNAME}")
    notification_id = notification_create(member=member, kind="lapsed", key="evt_zq1")
    Notification.objects.filter(pk=notification_id).update(error=f"550 mailbox {EMAIL} unavailable")
    # A grant whose note names the member (free text staff typed).
    laser = Authorization.objects.get_or_create(name="Laser cutter")[0]
    authorization_grant(
        member_id=member.pk, authorization=laser, by=None, note=f"{NOTE}; call {PHONE}"
    )
    EmailChangeMail.objects.create(member=member, email=NEW_EMAIL)
    SignupMail.objects.create(email=EMAIL, purpose="already_registered")
    LogEntry.objects.create(
        user=StaffFactory(),
        content_type=ContentType.objects.get_for_model(Member),
        object_id=str(member.pk),
        object_repr=str(member),
        action_flag=CHANGE,
        change_message="[]",
    )
    ImportedRow.objects.create(
        legacy_id=4242,
        member=member,
        detail=[{"field": "email", "value": EMAIL, "fix": "kept", "kind": "duplicate"}],
    )
    StripeEvent.objects.create(
        stripe_id="evt_ZqLog01",
        type="customer.subscription.deleted",
        created="2026-01-20T00:00:00Z",
        payload={"data": {"object": {"customer": CUSTOMER}}, "email": EMAIL},
        customer_id=CUSTOMER,
        email=EMAIL,
        member=member,
        state="processed",
    )
    Subscription.objects.create(
        stripe_id=SUBSCRIPTION, customer_id=CUSTOMER, status="canceled", member=member
    )
    # Door events with their tag: one matched to them, one from before it was theirs.
    DoorEventFactory(member=member, tag=TAG)
    DoorEventFactory(member=None, tag=TAG)
    # A session of the login (a banned member's is sent to the locked page).
    assert logged_in(member.user).get("/dashboard/").status_code in (200, 302)
    assert Session.objects.exists()
    return endpoint


def _erase(member, by=None):
    request, _ = erasure_request_open(member=member)
    return member_erase(request=request, by=by or StaffFactory())


def test_it_leaves_none_of_the_members_personal_data_in_any_table():
    member = _person()
    _copies_everywhere(member)
    before = _tables_holding(NEEDLES)
    # The scan sees the copies it must later miss.
    assert {"members_member", "members_memberevent", "members_user"} <= set(before)
    assert "integrations_feedevent" in before and "legacy_importedrow" in before
    assert any(table.startswith("integrations_doorevent_") for table in before)

    staff = StaffFactory()
    request = _erase(member, by=staff)

    assert _tables_holding(NEEDLES) == {}
    assert request.erased_at is not None and request.approved_by == staff
    # The billing event log keeps what Stripe sent.
    assert StripeEvent.objects.filter(email=EMAIL).exists()


def test_it_keeps_the_member_number_status_and_stripe_ids():
    member = _person()
    _copies_everywhere(member)
    events = member.events.count()
    _erase(member)
    after = Member.objects.get(pk=member.pk)
    assert after.date_added == member.date_added
    assert after.membership_status == "lapsed"
    assert after.status["stripe_customer_id"] == CUSTOMER
    assert after.status["stripe_subscription_id"] == SUBSCRIPTION
    assert Subscription.objects.get(stripe_id=SUBSCRIPTION).member_id == member.pk
    assert (after.email, after.username) == ("", "")
    assert after.access == {"rfid_tags": []}
    assert after.notes == []
    # The events stay, their copies blanked.
    assert after.events.count() == events + 1


def test_it_leaves_a_placeholder_login_that_cannot_log_in():
    member = _person()
    client = logged_in(member.user)
    assert Session.objects.count() == 1
    _erase(member)
    user = User.objects.get(pk=member.user_id)
    assert user.username == f"member-{member.pk}"
    assert (user.email, user.first_name, user.last_name) == ("", "", "")
    assert not user.is_active and not user.has_usable_password()
    assert not EmailAddress.objects.filter(user=user).exists()
    assert Session.objects.count() == 0
    assert client.get("/dashboard/").status_code == 302


def test_it_records_an_erasure_audit_entry_naming_the_staff_user():
    member = _person()
    staff = StaffFactory()
    _erase(member, by=staff)
    event = Member.objects.get(pk=member.pk).events.order_by("pgh_id").last()
    assert event.pgh_context.metadata["source"] == "erasure"
    assert event.pgh_context.metadata["user"] == staff.pk


def test_it_cancels_the_pending_mail_jobs_and_blanks_the_notification_errors():
    member = _person()
    _copies_everywhere(member)
    notification = Notification.objects.get(member=member)
    _erase(member)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status FROM procrastinate_jobs WHERE task_name LIKE '%%send_notification'"
            " AND args ->> 'notification_id' = %s",
            [str(notification.pk)],
        )
        assert [r[0] for r in cursor.fetchall()] == ["cancelled"]
    assert Notification.objects.get(pk=notification.pk).error == ""
    assert not EmailChangeMail.objects.filter(member=member).exists()
    assert ImportedRow.objects.get(legacy_id=4242).outcome == "erased"


def test_it_takes_the_member_off_the_access_list_and_the_feed(client):
    member = _person(membership="active")
    _, key = access_key_create(name="front door")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    listed = client.get("/api/v1/access/", **headers).json()["members"]
    assert [m["rfid_tags"] for m in listed if m["member_id"] == member.pk] == [[TAG]]

    _erase(member)

    body = client.get("/api/v1/access/", **headers).content.decode()
    for needle in (USERNAME, TAG):
        assert needle not in body
    entries = [m for m in client.get("/api/v1/access/", **headers).json()["members"]]
    # Erasure keeps the active status; the access goes all the same.
    assert Member.objects.get(pk=member.pk).membership_status == "active"
    assert member.pk not in [m["member_id"] for m in entries]
    # The event that removes the access, with no personal data in it.
    last = FeedEvent.objects.filter(member=member).order_by("sequence").last()
    assert "rfid_tags" in last.changed and last.snapshot["rfid_tags"] == []
    assert "may_enter" in last.changed and last.snapshot["may_enter"] is False
    assert (last.snapshot["username"], last.snapshot["email"]) == ("", "")
    assert not last.pumped


# A second record of the same person (an old Deep Harbor row), merged into the first.
TWIN_EMAIL = "zq-twinrecord@example.org"
TWIN_PHONE = "+1 555 0177 33"
TWIN_ID_NUMBER = "DL-55660011"
TWIN_NOTE = "left a bag in bay 3"
TWIN_LEGACY_ID = 5151
TWIN_NEEDLES = (*NEEDLES, "zq-twinrecord", "555 0177", TWIN_ID_NUMBER, TWIN_NOTE)


def _merged_twin(member, membership="lapsed"):
    twin = MemberFactory(
        user=None,
        email=TWIN_EMAIL,
        legacy_id=TWIN_LEGACY_ID,
        connections={"phone": TWIN_PHONE, "discord_username": USERNAME},
        forms={"id_check_1": "IL", "id_check_2": TWIN_ID_NUMBER},
        membership=membership,
    )
    Member.objects.filter(pk=twin.pk).update(
        identity={
            "first_name": FIRST,
            "last_name": LAST,
            "birthday": BIRTHDAY,
            "emails": [{"type": "primary", "email_address": TWIN_EMAIL}],
        }
    )
    Member.objects.filter(pk=twin.pk).append_note(TWIN_NOTE, author="staff")
    ImportedRow.objects.create(
        legacy_id=TWIN_LEGACY_ID,
        member=twin,
        detail=[{"field": "email", "value": TWIN_EMAIL, "fix": "kept", "kind": "duplicate"}],
    )
    member_merge(survivor=member, merged=twin, choices={}, by=StaffFactory())
    return twin


def test_it_erases_the_records_merged_into_the_member_too():
    member = _person()
    _copies_everywhere(member)
    twin = _merged_twin(member)
    # The merge kept the twin's row, its history and its ledger row, with the person on them.
    before = _tables_holding((TWIN_ID_NUMBER, TWIN_NOTE, "555 0177"))
    assert {"members_member", "members_memberevent"} <= set(before)
    assert before["members_member"] == [TWIN_ID_NUMBER, TWIN_NOTE, "555 0177"]
    assert "legacy_importedrow" in _tables_holding(("zq-twinrecord",))
    # The change feed's snapshots of the twin name the person.
    assert FIRST in [e.snapshot["first_name"] for e in FeedEvent.objects.filter(member=twin)]

    _erase(member)

    assert _tables_holding(TWIN_NEEDLES) == {}
    assert {e.snapshot["first_name"] for e in FeedEvent.objects.filter(member=twin)} == {""}
    ledger = ImportedRow.objects.get(legacy_id=TWIN_LEGACY_ID)
    assert (ledger.detail, ledger.outcome) == ([], "erased")
    after = Member.objects.get(pk=twin.pk)
    assert after.connections == {"phone": "", "discord_username": ""}
    assert (after.email, after.identity["first_name"], after.forms["id_check_2"]) == ("", "", "")
    # Still marked as merged into the member: only the merge's own note is left.
    assert Member.objects.filter(MERGED_AWAY_Q, pk=twin.pk, merged_into=member.pk).exists()
    assert [n["from"] for n in after.notes] == ["merge"]
    assert after.events.order_by("pgh_id").last().pgh_context.metadata["source"] == "erasure"


def test_it_bans_the_addresses_of_a_merged_record_of_a_banned_member():
    member = _person(membership="banned")
    twin = _merged_twin(member, membership="banned")
    _erase(member)
    assert is_erased_ban(EMAIL) and is_erased_ban(TWIN_EMAIL)
    assert Member.objects.get(pk=twin.pk).email == ""


SPELLINGS = (
    EMAIL,
    EMAIL.upper(),
    f"  {EMAIL}  ",
    "ＺＱ-ＥＲＡＳＥ@ＥＸＡＭＰＬＥ.ＯＲＧ",
)


def test_it_keeps_a_ban_across_erasure_under_every_spelling(client):
    member = _person(membership="banned")
    _erase(member)
    assert BannedEmailHash.objects.count() == 1
    assert EMAIL not in BannedEmailHash.objects.get().digest
    for spelling in SPELLINGS:
        assert email_registered(spelling), spelling
        assert erased_ban_matches(spelling), spelling
    members_before = Member.objects.count()
    for spelling in SPELLINGS:
        response = client.post("/signup/", {"email": spelling})
        assert response.status_code == 302 and response["Location"] == "/signup/sent/"
    assert set(SignupMail.objects.values_list("purpose", flat=True)) == {"already_registered"}
    with pytest.raises(EmailTaken):
        member_signup(
            email=SPELLINGS[3],
            username="newzq",
            password="a-long-pass-phrase-9",
            first_name="Z",
            last_name="Q",
            birthday="1990-01-01",
            phone="",
            is_21_or_older=True,
        )
    assert Member.objects.count() == members_before


def test_it_leaves_no_ban_for_a_member_who_was_not_banned():
    member = _person()
    _erase(member)
    assert BannedEmailHash.objects.count() == 0
    assert not email_registered(EMAIL)
    assert not erased_ban_matches(EMAIL)


def test_it_refuses_a_member_with_a_live_subscription_and_writes_nothing():
    member = _person(membership="active")
    Member.objects.filter(pk=member.pk).merge_json("status", {"subscription_status": "past_due"})
    request, _ = erasure_request_open(member=member)
    events = member.events.count()
    with pytest.raises(ErasureRefused, match=LIVE_SUBSCRIPTION_REFUSAL):
        member_erase(request=request, by=StaffFactory())
    assert Member.objects.get(pk=member.pk).email == EMAIL
    assert member.events.count() == events
    assert ErasureRequest.objects.get(pk=request.pk).erased_at is None


def test_it_refuses_a_member_whose_subscription_row_is_live():
    member = _person()
    Subscription.objects.create(stripe_id="sub_ZqLive", status="active", member=member)
    request, _ = erasure_request_open(member=member)
    with pytest.raises(ErasureRefused, match=LIVE_SUBSCRIPTION_REFUSAL):
        member_erase(request=request, by=StaffFactory())
    assert Member.objects.get(pk=member.pk).username == USERNAME


def test_it_refuses_when_an_older_login_holds_the_placeholder_name():
    member = _person()
    # Saved past the form's rule, as logins made before the rule may be.
    UserFactory(username=f"Member-{member.pk}")
    request, _ = erasure_request_open(member=member)
    with pytest.raises(ErasureRefused, match=f"the name member-{member.pk}"):
        member_erase(request=request, by=StaffFactory())
    assert Member.objects.get(pk=member.pk).username == USERNAME
    assert ErasureRequest.objects.get(pk=request.pk).erased_at is None


def test_it_does_no_harm_when_erasing_twice():
    member = _person(membership="banned")
    _copies_everywhere(member)
    staff = StaffFactory()
    _erase(member, by=staff)
    first = Member.objects.get(pk=member.pk)
    events = first.events.count()
    second = ErasureRequest.objects.create(member=member)
    member_erase(request=second, by=staff)
    again = Member.objects.get(pk=member.pk)
    assert again.events.count() == events
    assert (again.identity, again.status, again.email) == (first.identity, first.status, "")
    assert BannedEmailHash.objects.count() == 1
    assert ErasureRequest.objects.filter(erased_at=None).count() == 0
    assert _tables_holding(NEEDLES) == {}


def test_it_opens_one_request_per_member_until_it_is_done():
    member = MemberFactory()
    first, created = erasure_request_open(member=member)
    again, created_again = erasure_request_open(member=member)
    assert created and not created_again and again.pk == first.pk


def test_it_erases_a_merged_record_whose_merge_note_staff_removed():
    member = _person()
    twin = _merged_twin(member)
    # Notes are free text staff edit; the merge is recorded in merged_into, not there.
    Member.objects.filter(pk=twin.pk).update(notes=[])
    _erase(member)
    assert _tables_holding(TWIN_NEEDLES) == {}
    assert Member.objects.get(pk=twin.pk).merged_into_id == member.pk


def test_it_erases_a_record_merged_into_a_record_later_merged_into_the_member():
    member = _person()
    middle = MemberFactory(user=None, email="zq-middle@example.org", username="")
    twin = _merged_twin(middle)
    member_merge(survivor=member, merged=middle, choices={}, by=StaffFactory())
    assert Member.objects.get(pk=twin.pk).merged_into_id == member.pk
    _erase(member)
    assert _tables_holding((*TWIN_NEEDLES, "zq-middle")) == {}
