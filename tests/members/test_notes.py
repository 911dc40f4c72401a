import threading

import pytest
from django.db import transaction

from members.models import Member
from tests.factories import MemberFactory
from tests.threads import run_concurrently


@pytest.mark.django_db(transaction=True)
def test_it_keeps_both_notes_appended_from_two_threads_at_once():
    member = MemberFactory(notes=[{"note": "first", "from": "test", "timestamp": None}])
    first_holds_lock = threading.Event()

    def slow_writer():
        with transaction.atomic():
            Member.objects.filter(pk=member.pk).append_note("from A", author="a")
            first_holds_lock.set()
            # Keep the row locked while the other thread tries its append.
            threading.Event().wait(0.3)

    def fast_writer():
        first_holds_lock.wait(5)
        Member.objects.filter(pk=member.pk).append_note("from B", author="b")

    run_concurrently(slow_writer, fast_writer, barrier=False)
    member.refresh_from_db()
    assert [n["note"] for n in member.notes] == ["first", "from A", "from B"]


@pytest.mark.django_db
def test_it_appends_to_a_null_notes_column_as_a_list():
    member = MemberFactory(notes=None)
    Member.objects.filter(pk=member.pk).append_note("hello", author="staff")
    member.refresh_from_db()
    assert isinstance(member.notes, list)
    assert member.notes[0]["note"] == "hello"
    assert member.notes[0]["from"] == "staff"
    assert member.notes[0]["timestamp"]


@pytest.mark.django_db
def test_it_merges_keys_without_dropping_the_others():
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).merge_json("status", {"payment_problem": True})
    member.refresh_from_db()
    assert member.status["payment_problem"] is True
    assert member.status["membership_status"] == "active"
