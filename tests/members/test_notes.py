import threading

import pytest
from django.db import connection, transaction

from members.models import Member
from tests.factories import MemberFactory


@pytest.mark.django_db(transaction=True)
def test_it_keeps_both_notes_appended_from_two_threads_at_once():
    member = MemberFactory(notes=[{"note": "first", "from": "test", "timestamp": None}])
    first_holds_lock = threading.Event()
    errors = []

    def slow_writer():
        try:
            with transaction.atomic():
                Member.objects.filter(pk=member.pk).append_note("from A", author="a")
                first_holds_lock.set()
                # Keep the row locked while the other thread tries its append.
                threading.Event().wait(0.3)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    def fast_writer():
        try:
            first_holds_lock.wait(5)
            Member.objects.filter(pk=member.pk).append_note("from B", author="b")
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=slow_writer), threading.Thread(target=fast_writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
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
