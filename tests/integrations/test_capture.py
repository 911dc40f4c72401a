"""Capture: the trigger on the member table records one FeedEvent per committed change
of a feed field, whatever path wrote it, with the snapshot after the change."""

import datetime
import re
import threading

import pytest
from django.db import connection, connections, transaction

from billing.models import Subscription
from integrations.models import FeedEvent
from integrations.snapshot import FUNCTION, SNAPSHOT_KEYS, function_sql
from members.models import Member
from members.scaffolding import complete_member
from tests.billing.stripe_events import SECRET as STRIPE_SECRET
from tests.billing.stripe_events import T0, deliver, stripe_event
from tests.dashboard.conftest import member_kinds
from tests.factories import MemberFactory, logged_in
from tests.legacy.conftest import run_import

pytestmark = pytest.mark.django_db


def committed():
    """What a commit means to the trigger: later writes belong to another transaction
    and make events of their own. Tests run inside one transaction, so the events made
    so far are marked as another transaction's (test_it_records_one_event_... runs
    real transactions)."""
    FeedEvent.objects.update(xact=None)


def events(member) -> list[FeedEvent]:
    return list(FeedEvent.objects.filter(member_id=member.pk).order_by("sequence"))


def last(member) -> dict:
    return events(member)[-1].snapshot


def test_it_records_a_new_member_with_the_snapshot_keys_exactly():
    member = MemberFactory(
        username="ada",
        access={"rfid_tags": ["12345"]},
        authorizations={"authorizations": ["laser"], "computer_authorizations": ["cnc-pc"]},
    )
    (event,) = events(member)
    snapshot = event.snapshot
    assert set(snapshot) == set(SNAPSHOT_KEYS)
    assert snapshot == {
        "event_id": event.pk,
        "member_id": member.pk,
        "legacy_id": None,
        "sequence": 1,
        "changed_at": snapshot["changed_at"],
        "username": "ada",
        "email": member.email,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "membership_status": "active",
        "may_enter": True,
        "rfid_tags": ["0000012345"],
        "authorizations": ["laser"],
        "computer_authorizations": ["cnc-pc"],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", snapshot["changed_at"])


def test_it_records_an_orm_save_of_the_username_with_the_next_sequence():
    member = MemberFactory()
    committed()
    member.username = "renamed"
    member.save()
    first, second = events(member)
    assert (first.sequence, second.sequence) == (1, 2)
    assert second.snapshot["username"] == "renamed"
    assert second.snapshot["sequence"] == 2
    assert second.changed == ["username"]


def test_it_records_an_update_of_the_membership_status():
    member = MemberFactory(membership="active")
    committed()
    Member.objects.filter(pk=member.pk).update(status={"membership_status": "Lapsed "})
    snapshot = last(member)
    assert (snapshot["membership_status"], snapshot["may_enter"]) == ("lapsed", False)
    assert events(member)[-1].changed == ["may_enter", "membership_status"]


def test_it_records_raw_sql_on_the_tags():
    member = MemberFactory()
    committed()
    with connection.cursor() as cursor:
        cursor.execute(
            'UPDATE members_member SET access = \'{"rfid_tags": ["77", "0000000077"]}\''
            " WHERE id = %s",
            [member.pk],
        )
    assert last(member)["rfid_tags"] == ["0000000077"]
    assert len(events(member)) == 2


def test_it_records_names_email_and_authorizations():
    member = MemberFactory()
    committed()
    Member.objects.filter(pk=member.pk).merge_json("identity", {"first_name": "Grace"})
    committed()
    Member.objects.filter(pk=member.pk).update(email="grace@example.org")
    committed()
    Member.objects.filter(pk=member.pk).merge_json(
        "authorizations", {"computer_authorizations": ["3d-printer"]}
    )
    changes = [e.changed for e in events(member)[1:]]
    assert changes == [["first_name"], ["email"], ["computer_authorizations"]]
    assert last(member)["first_name"] == "Grace"


def test_it_records_nothing_for_a_write_that_changes_no_feed_field():
    member = MemberFactory()
    committed()
    Member.objects.filter(pk=member.pk).append_note("called about storage", author="staff")
    Member.objects.filter(pk=member.pk).merge_json("status", {"renewal_date": "2027-01-01"})
    Member.objects.filter(pk=member.pk).merge_json("identity", {"pronouns": "she/her"})
    Member.objects.filter(pk=member.pk).update(extras={"storage_id": 4})
    # The same value again, in another spelling the snapshot reads the same way.
    Member.objects.filter(pk=member.pk).merge_json("status", {"membership_status": "ACTIVE"})
    member.refresh_from_db()
    member.save()
    assert len(events(member)) == 1


@pytest.mark.django_db(transaction=True)
def test_it_records_one_event_for_several_writes_in_one_transaction():
    member, other = MemberFactory(access={"rfid_tags": ["0000000001"]}), MemberFactory()
    # A merge's shape: the tag moves from one member to the other in one transaction.
    with transaction.atomic():
        Member.objects.filter(pk=member.pk).remove_rfid_tag("0000000001")
        Member.objects.filter(pk=other.pk).add_rfid_tag("0000000001")
        Member.objects.filter(pk=other.pk).update(username="survivor")
    assert [e.sequence for e in events(member)] == [1, 2]
    assert [e.sequence for e in events(other)] == [1, 2]
    assert last(member)["rfid_tags"] == []
    assert last(other)["rfid_tags"] == ["0000000001"]
    assert last(other)["username"] == "survivor"
    assert events(other)[-1].changed == ["rfid_tags", "username"]


def test_it_records_nothing_for_a_rolled_back_change():
    member = MemberFactory()
    committed()
    with pytest.raises(RuntimeError), transaction.atomic():
        Member.objects.filter(pk=member.pk).update(username="never")
        raise RuntimeError
    assert len(events(member)) == 1
    assert last(member)["username"] == member.username


def test_it_records_a_repair_that_adds_the_membership_status():
    member = MemberFactory(status={"membership_level": "New Member"}, access=None)
    assert last(member)["membership_status"] is None
    committed()
    filled = complete_member(member.pk)
    assert "access" in filled
    assert last(member)["membership_status"] == "pending"
    assert events(member)[-1].changed == ["membership_status"]


def test_it_records_nothing_for_a_repair_that_fills_an_empty_tag_list():
    member = MemberFactory(access=None)
    committed()
    complete_member(member.pk, only=["access"])
    assert Member.objects.get(pk=member.pk).access == {"rfid_tags": []}
    assert len(events(member)) == 1  # no tags before, none after


def test_it_records_every_imported_member_with_its_legacy_id(deepharbor):
    run_import("--source", deepharbor)
    imported = Member.objects.exclude(legacy_id=None)
    assert imported.count() == 19
    for member in imported:
        snapshots = [e.snapshot for e in events(member)]
        assert len(snapshots) == 1, member.legacy_id
        assert snapshots[0]["legacy_id"] == member.legacy_id
        assert snapshots[0]["username"] == member.username


def test_it_records_the_webhook_activating_a_lapsed_member(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    member = MemberFactory(membership="lapsed")
    member.status.update(
        stripe_customer_id="cus_Feed",
        stripe_subscription_id="sub_Feed",
        subscription_status="unpaid",
    )
    member.save()
    Subscription.objects.create(
        stripe_id="sub_Feed",
        customer_id="cus_Feed",
        status="unpaid",
        member=member,
        last_event_created=datetime.datetime.fromtimestamp(T0 - 1000, tz=datetime.UTC),
    )
    committed()
    before = len(events(member))
    event = stripe_event(
        "customer.subscription.updated",
        sub_id="sub_Feed",
        customer="cus_Feed",
        created=T0,
        status="active",
    )
    assert deliver(client, event).status_code == 200
    assert Member.objects.get(pk=member.pk).membership_status == "active"
    assert len(events(member)) == before + 1
    assert (last(member)["membership_status"], last(member)["may_enter"]) == ("active", True)


def test_it_records_the_dashboard_key_change():
    member = MemberFactory(access={"rfid_tags": []})
    committed()
    response = logged_in(member.user).post("/dashboard/keys/", {"action": "add", "tag": "4242"})
    assert response.status_code == 302
    assert last(member)["rfid_tags"] == ["0000004242"]
    assert events(member)[-1].changed == ["rfid_tags"]


def test_it_reads_damaged_and_partial_rows_without_failing_the_write():
    for name, values in member_kinds().items():
        member = MemberFactory(**values)
        snapshot = last(member)
        assert set(snapshot) == set(SNAPSHOT_KEYS), name
        for key in ("rfid_tags", "authorizations", "computer_authorizations"):
            assert isinstance(snapshot[key], list), (name, key)
        row = Member.objects.get(pk=member.pk)
        assert snapshot["may_enter"] is (row.membership_status == "active"), name
        assert snapshot["membership_status"] == row.membership_status, name
    wrong = last(Member.objects.order_by("-pk").first())
    assert (wrong["first_name"], wrong["membership_status"]) == (None, None)
    assert wrong["rfid_tags"] == wrong["authorizations"] == []


@pytest.mark.django_db(transaction=True)
def test_it_numbers_two_concurrent_writers_of_one_member_without_a_gap():
    member = MemberFactory()
    holding, release = threading.Event(), threading.Event()

    def first_writer():
        try:
            with transaction.atomic():
                Member.objects.filter(pk=member.pk).update(username="first")
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_writer)
    thread.start()
    assert holding.wait(10)

    def second_writer():
        try:
            Member.objects.filter(pk=member.pk).update(username="second")
        finally:
            connections.close_all()

    second = threading.Thread(target=second_writer)
    second.start()
    release.set()
    thread.join(10)
    second.join(10)
    assert [(e.sequence, e.snapshot["username"]) for e in events(member)][1:] == [
        (2, "first"),
        (3, "second"),
    ]


def test_it_installed_the_snapshot_function_the_code_generates():
    """The migration ran the SQL generated from the shapes; a change to the shapes or
    to the generator without a migration that installs it again fails here."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = %s", [FUNCTION])
        (installed,) = cursor.fetchone()
    generated = function_sql().split("$fn$")[1]
    assert installed.strip() == generated.strip()
