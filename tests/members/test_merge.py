"""Merging two member records of one person (members/merge.py; README, "Moving from Deep
Harbor")."""

import datetime
import importlib

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps as django_apps
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from legacy.models import ImportedRow, Outcome
from members.merge import (
    MERGED_AWAY_Q,
    MergeRefused,
    is_merged_away,
    member_merge,
    merged_into,
)
from members.models import Member, MemberStatus, RfidTag, User
from tests.factories import MemberFactory, StaffFactory, UserFactory
from tests.threads import run_concurrently

pytestmark = pytest.mark.django_db


def note(text, author="staff1"):
    return {"note": text, "from": author, "timestamp": "2025-01-01T00:00:00+00:00"}


def legacy_twin(holder, **kwargs):
    """A duplicate as the import leaves it: no email, no login, pointing at the holder."""
    fields = {
        "user": None,
        "email": "",
        "username": "",
        "duplicate_of": holder,
        "identity": {
            "first_name": "Alicia",
            "emails": [{"type": "primary", "email_address": holder.email}],
        },
        "access": {"rfid_tags": ["0000000042", "0000000099"]},
        "notes": [note("Welcome aboard", "admin")],
        "authorizations": {"authorizations": ["Wood Shop"], "computer_authorizations": []},
        "legacy_id": 5,
    }
    fields.update(kwargs)
    return MemberFactory(**fields)


def events_of(member):
    return list(member.events.select_related("pgh_context").order_by("pgh_id"))


def used_login(**kwargs):
    return UserFactory(last_login=timezone.now(), **kwargs)


@pytest.fixture
def staff():
    return StaffFactory(username="staff1")


def test_it_moves_tags_notes_emails_and_authorizations_to_the_survivor(staff):
    holder = MemberFactory(
        access={"rfid_tags": ["0000000007"]},
        notes=[note("Signed up online", "signup")],
        authorizations={"authorizations": ["Laser Cutter"], "computer_authorizations": ["Wiki"]},
    )
    twin = legacy_twin(
        holder,
        identity={
            "first_name": "Alicia",
            "emails": [
                {"type": "primary", "email_address": holder.email},
                {"type": "work", "email_address": "alicia@work.example"},
            ],
        },
    )

    result = member_merge(survivor=holder, merged=twin, choices={}, by=staff)

    holder.refresh_from_db()
    twin.refresh_from_db()
    assert holder.access["rfid_tags"] == ["0000000007", "0000000042", "0000000099"]
    assert set(RfidTag.objects.filter(member=holder).values_list("tag", flat=True)) == {
        "0000000007",
        "0000000042",
        "0000000099",
    }
    assert not RfidTag.objects.filter(member=twin).exists()
    assert [n["note"] for n in holder.notes[:2]] == ["Signed up online", "Welcome aboard"]
    assert (
        f"Member #{twin.pk} (Deep Harbor #5) merged into this one by staff1"
        in (holder.notes[-1]["note"])
    )
    assert holder.authorizations == {
        "authorizations": ["Laser Cutter", "Wood Shop"],
        "computer_authorizations": ["Wiki"],
    }
    assert holder.identity["emails"] == [
        {"type": "primary", "email_address": holder.email},
        {"type": "work", "email_address": "alicia@work.example"},
    ]
    assert holder.duplicate_of is None
    assert result.tags_moved == 2
    assert result.summary().startswith(f"Merged member #{twin.pk} into #{holder.pk}: 2 RFID tags")


def test_it_keeps_the_merged_record_emptied_marked_and_readable(staff):
    holder = MemberFactory()
    twin = legacy_twin(holder, username="alicia", status={"membership_status": "active"})
    before = events_of(twin)

    member_merge(survivor=holder, merged=twin, choices={}, by=staff)

    twin.refresh_from_db()
    assert (twin.email, twin.username, twin.user_id) == ("", "", None)
    assert twin.duplicate_of == holder
    assert twin.access == {"rfid_tags": []}
    # It can no longer let anyone in; the rest of what it held is still on it.
    assert twin.status == {"membership_status": "suspended"}
    assert twin.identity["first_name"] == "Alicia"
    assert twin.notes[-1]["from"] == "merge"
    assert twin.merged_into == holder
    assert is_merged_away(twin)
    # Its history is whole: what it was before the merge, then the merge.
    after = events_of(twin)
    assert after[: len(before)] == before
    assert after[-1].pgh_context.metadata["source"] == "merge"
    assert after[-2].username == "alicia"
    assert merged_into(holder) == [twin]


def test_it_lets_staff_choose_whose_value_wins_per_column(staff):
    holder = MemberFactory(connections={"phone": "1", "discord_username": "old"})
    twin = legacy_twin(
        holder,
        username="alicia",
        connections={"phone": "2", "discord_username": "new"},
        date_added=timezone.now() - datetime.timedelta(days=3650),
    )

    member_merge(
        survivor=holder,
        merged=twin,
        choices={"username": twin.pk, "connections": twin.pk, "identity": twin.pk},
        by=staff,
    )

    holder.refresh_from_db()
    assert holder.username == "alicia"
    assert holder.user.username == "alicia"
    assert holder.connections == {"phone": "2", "discord_username": "new"}
    assert holder.identity["first_name"] == "Alicia"
    assert holder.email == holder.user.email
    # The earlier joining date wins unless staff choose otherwise.
    assert holder.date_added == twin.date_added


def test_its_audit_entry_names_the_staff_user_and_the_source_merge(staff):
    holder = MemberFactory()
    twin = legacy_twin(holder)

    member_merge(survivor=holder, merged=twin, choices={}, by=staff)

    last = events_of(holder)[-1]
    assert last.pgh_context.metadata["source"] == "merge"
    assert last.pgh_context.metadata["user"] == staff.pk
    assert last.pgh_context.metadata["merge"] == {"into": holder.pk, "from": twin.pk}
    assert last.last_updated_by_id == staff.pk


def test_it_marks_the_merged_legacy_members_ledger_row_merged(staff):
    holder = MemberFactory()
    twin = legacy_twin(holder)
    ImportedRow.objects.create(legacy_id=5, member=twin, detail=[])
    other = ImportedRow.objects.create(legacy_id=6, member=holder, detail=[])

    member_merge(survivor=holder, merged=twin, choices={}, by=staff)

    row = ImportedRow.objects.get(legacy_id=5)
    assert row.outcome == Outcome.MERGED
    assert row.detail[-1]["fix"] == f"merged into member #{holder.pk}"
    other.refresh_from_db()
    assert other.outcome == Outcome.IMPORTED


def test_it_stays_merged_away_whatever_staff_do_to_its_notes(staff):
    holder = MemberFactory()
    twin = legacy_twin(holder)
    third = MemberFactory()
    member_merge(survivor=holder, merged=twin, choices={}, by=staff)

    Member.objects.filter(pk=twin.pk).update(notes=[note("tidied up")])

    assert Member.objects.filter(MERGED_AWAY_Q).get() == twin
    with pytest.raises(MergeRefused, match=f"already merged into #{holder.pk}"):
        member_merge(survivor=third, merged=twin, choices={}, by=staff)
    assert merged_into(holder) == [twin]


def test_it_moves_the_records_merged_into_the_merged_member_to_the_survivor(staff):
    first = MemberFactory()
    second = legacy_twin(first)
    third = legacy_twin(first, legacy_id=6, access={"rfid_tags": []})
    member_merge(survivor=second, merged=third, choices={}, by=staff)

    member_merge(survivor=first, merged=second, choices={}, by=staff)

    assert merged_into(first) == [second, third]
    assert Member.objects.get(pk=third.pk).merged_into_id == first.pk


def test_the_migration_marks_the_records_earlier_merges_left_with_a_note(staff):
    holder = MemberFactory()
    merged = legacy_twin(holder, notes=[note("Merged into member #1 by staff1", "merge")])
    duplicate = legacy_twin(holder, legacy_id=6, access={"rfid_tags": []})
    noted = MemberFactory(notes=[note("merge soon", "merge")])
    migration = importlib.import_module("members.migrations.0012_member_merged_into")

    migration.merged_into_fill(django_apps, None)

    marked = Member.objects.filter(merged_into__isnull=False)
    assert list(marked.values_list("pk", "merged_into")) == [(merged.pk, holder.pk)]
    assert not {duplicate.pk, noted.pk} & set(marked.values_list("pk", flat=True))


def test_it_refuses_when_both_have_logged_in(staff):
    first = MemberFactory(user=used_login())
    second = MemberFactory(user=used_login())

    with pytest.raises(MergeRefused, match="Both members have logged in"):
        member_merge(survivor=first, merged=second, choices={}, by=staff)


def test_it_refuses_when_both_have_a_stripe_customer(staff):
    first = MemberFactory(status={"membership_status": "active", "stripe_customer_id": "cus_A"})
    second = legacy_twin(
        first, status={"membership_status": "active", "stripe_customer_id": "cus_B"}
    )

    with pytest.raises(MergeRefused, match="Both members have a Stripe customer"):
        member_merge(survivor=first, merged=second, choices={}, by=staff)


@pytest.mark.parametrize("banned", ["survivor", "merged"])
def test_it_refuses_when_one_is_banned_and_the_other_is_not(staff, banned):
    first = MemberFactory(membership="banned" if banned == "survivor" else "active")
    second = legacy_twin(
        first, status={"membership_status": "BANNED" if banned == "merged" else "active"}
    )

    with pytest.raises(MergeRefused, match="is banned and"):
        member_merge(survivor=first, merged=second, choices={}, by=staff)


def test_it_merges_two_banned_members_and_the_record_stays_banned(staff):
    first = MemberFactory(membership="banned")
    second = legacy_twin(first, status={"membership_status": "banned"})

    member_merge(survivor=first, merged=second, choices={}, by=staff)

    second.refresh_from_db()
    first.refresh_from_db()
    assert second.membership_status == first.membership_status == MemberStatus.BANNED


def test_it_refuses_a_status_away_from_the_stripe_customer(staff):
    first = MemberFactory()
    second = legacy_twin(
        first, status={"membership_status": "active", "stripe_customer_id": "cus_B"}
    )

    with pytest.raises(MergeRefused, match="has the Stripe customer"):
        member_merge(survivor=first, merged=second, choices={"status": first.pk}, by=staff)


def test_it_refuses_a_record_already_merged_away_and_writes_nothing(staff):
    holder = MemberFactory()
    twin = legacy_twin(holder)
    third = MemberFactory()
    member_merge(survivor=holder, merged=twin, choices={}, by=staff)
    count = len(events_of(third))

    with pytest.raises(MergeRefused, match="already merged into"):
        member_merge(survivor=third, merged=twin, choices={}, by=staff)
    assert len(events_of(third)) == count


def test_it_refuses_a_member_merged_with_itself_and_choices_from_elsewhere(staff):
    first, second, third = (
        MemberFactory(),
        MemberFactory(user=None, email="x@example.org"),
        MemberFactory(),
    )
    with pytest.raises(MergeRefused, match="itself"):
        member_merge(survivor=first, merged=first, choices={}, by=staff)
    with pytest.raises(MergeRefused, match="one of the two members"):
        member_merge(survivor=first, merged=second, choices={"email": third.pk}, by=staff)
    with pytest.raises(MergeRefused, match="not something a merge chooses"):
        member_merge(survivor=first, merged=second, choices={"billing_ref": first.pk}, by=staff)


def test_it_moves_the_only_used_login_to_the_survivor_and_removes_the_unused_one(staff):
    unused = UserFactory(password=make_password(None), verified_address=False)
    EmailAddress.objects.create(user=unused, email=unused.email, verified=False, primary=True)
    survivor = MemberFactory(user=unused)
    used = used_login(email="alicia@example.org", username="alicia")
    merged = MemberFactory(user=used)

    result = member_merge(survivor=survivor, merged=merged, choices={}, by=staff)

    survivor.refresh_from_db()
    assert survivor.user_id == used.pk
    assert not User.objects.filter(pk=unused.pk).exists()
    used.refresh_from_db()
    # The login in use keeps the email and name its owner logs in with.
    assert (survivor.email, survivor.username) == ("alicia@example.org", "alicia")
    assert (used.email, used.username) == ("alicia@example.org", "alicia")
    assert list(EmailAddress.objects.filter(user=used).values_list("email", "primary")) == [
        ("alicia@example.org", True)
    ]
    assert "moved" in result.login
    # The unused login's address is kept in the survivor's identity.
    assert unused.email in [e["email_address"] for e in survivor.identity["emails"]]


def test_it_never_removes_a_staff_login(staff):
    survivor = MemberFactory(user=used_login())
    merged = MemberFactory(user=StaffFactory())

    with pytest.raises(MergeRefused, match="staff login"):
        member_merge(survivor=survivor, merged=merged, choices={}, by=staff)


@pytest.mark.django_db(transaction=True)
def test_it_never_loses_a_row_or_duplicates_a_tag_under_concurrent_overlapping_merges():
    staff = StaffFactory()
    rounds = 6
    for round_ in range(rounds):
        a = MemberFactory(access={"rfid_tags": [f"{round_:04d}000001"]})
        b = legacy_twin(a, access={"rfid_tags": [f"{round_:04d}000002"]}, legacy_id=None)
        c = legacy_twin(a, access={"rfid_tags": [f"{round_:04d}000003"]}, legacy_id=None)
        tags = {f"{round_:04d}00000{i}" for i in (1, 2, 3)}

        def merge(survivor, merged):
            def run():
                try:
                    return member_merge(
                        survivor=survivor.pk, merged=merged.pk, choices={}, by=staff
                    )
                except MergeRefused as refused:
                    return refused

            return run

        # Pairs overlapping on b, in both orders: (a <- b), (b <- c), (c <- b).
        results = run_concurrently(merge(a, b), merge(b, c), merge(c, b))

        done = [r for r in results if not isinstance(r, MergeRefused)]
        assert done, results
        members = Member.objects.filter(pk__in=[a.pk, b.pk, c.pk])
        assert members.count() == 3  # no row lost
        held = list(RfidTag.objects.filter(tag__in=tags).values_list("tag", "member_id"))
        assert sorted(t for t, _ in held) == sorted(tags)  # every tag once
        live = [m for m in members if not is_merged_away(m)]
        # Every tag is on a record still in use.
        assert {m for _, m in held} <= {m.pk for m in live}
        for m in members:
            assert sorted(m.access["rfid_tags"]) == sorted(t for t, h in held if h == m.pk)


def test_it_moves_the_merged_records_grants_to_the_survivor(staff):
    from members.grants import authorization_grant
    from members.models import Authorization, AuthorizationGrant

    laser = Authorization.objects.create(name="Laser Cutter")
    wood = Authorization.objects.create(name="Wood Shop")
    holder = MemberFactory()
    twin = legacy_twin(holder, authorizations=None)
    authorization_grant(member_id=holder.pk, authorization=laser, by=staff)
    authorization_grant(member_id=twin.pk, authorization=laser, by=staff)
    moved = authorization_grant(member_id=twin.pk, authorization=wood, by=staff)

    member_merge(survivor=holder, merged=twin, choices={}, by=staff)

    live = AuthorizationGrant.objects.filter(revoked_at=None)
    assert sorted(live.values_list("member_id", "authorization__name")) == [
        (holder.pk, "Laser Cutter"),
        (holder.pk, "Wood Shop"),
    ]
    assert live.get(authorization=wood).pk == moved.pk
    # The twin's second Laser Cutter grant ended (it stays on the twin's record), by the
    # staff user who merged.
    ended = AuthorizationGrant.objects.get(member=twin, authorization=laser)
    assert ended.revoked_by == staff
    holder.refresh_from_db()
    assert holder.authorizations["authorizations"] == ["Laser Cutter", "Wood Shop"]
