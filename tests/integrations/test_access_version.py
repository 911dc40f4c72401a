"""The access list's ETag is its version (integrations/access_version.py): every change
that may change the list gives it a new value as it commits, so a 304 is answered
without building the list.

Proof in two parts: the list reads only tables that carry the version's triggers, and
only columns the update trigger watches (from PostgreSQL's own plan of the list's
query, so a later change to the list that reads more fails here); and each kind of
change, made as the portal makes it or in raw SQL, changes the ETag the running server
answers."""

import json
import re
import threading

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import access_version
from integrations.views import members_sql
from members.models import ErasureRequest, Member
from tests.factories import MemberFactory
from tests.integrations.doors import ACCESS, call, new_key

pytestmark = pytest.mark.django_db(transaction=True)


def plan() -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (VERBOSE, FORMAT JSON) " + members_sql())
        found = cursor.fetchone()[0]
    return json.loads(found) if isinstance(found, str) else found


def nodes(node):
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


def plan_nodes() -> list[dict]:
    return list(nodes(plan()[0]["Plan"]))


def test_it_reads_only_tables_that_carry_the_version_triggers():
    read = {n["Relation Name"] for n in plan_nodes() if "Relation Name" in n}
    assert read == {
        access_version.MEMBER_TABLE,
        access_version.ERASURE_TABLE,
        access_version.VERSION_TABLE,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgtype & 28, t.tgdeferrable, t.tginitdeferred"
            " FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid"
            " WHERE t.tgfoid = %s::regproc",
            [access_version.FUNCTION],
        )
        triggers = cursor.fetchall()
    # tgtype bits: 4 insert, 8 delete, 16 update; every one deferred to the commit.
    for table in (access_version.MEMBER_TABLE, access_version.ERASURE_TABLE):
        events = 0
        for relname, kinds, deferrable, deferred in triggers:
            if relname == table:
                assert deferrable and deferred
                events |= kinds
        assert events == 4 | 8 | 16, table


def used(node) -> str:
    """What a plan node computes and checks; a table scan's own Output is left out (it
    lists every column: PostgreSQL passes whole rows up, reading only what is used)."""
    shown = {k: v for k, v in node.items() if k != "Plans"}
    if "Relation Name" in node:
        shown.pop("Output", None)
    return json.dumps(shown)


def test_it_watches_every_column_the_list_reads():
    text = " ".join(used(n) for n in plan_nodes())
    member_columns = set(re.findall(r"\bm\.([a-z_]+)", text))
    erasure_columns = set(re.findall(r"\berasure\.([a-z_]+)", text))
    assert member_columns and erasure_columns
    assert member_columns <= set(access_version.member_columns())
    assert erasure_columns <= set(access_version.ERASURE_COLUMNS)


def _raw(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_it_changes_the_etag_whenever_the_list_may_change(live_server):
    key = new_key()
    member = MemberFactory(username="ada", access={"rfid_tags": ["0000000001"]})
    other = MemberFactory(membership="pending")
    request = ErasureRequest.objects.create(member=other)

    def etag():
        return call(live_server, "GET", ACCESS, key=key).headers["ETag"]

    changes = {
        "a new member": lambda: MemberFactory(),
        "a status, by update()": lambda: Member.objects.filter(pk=other.pk).merge_json(
            "status", {"membership_status": "active"}
        ),
        "a tag, by raw SQL": lambda: _raw(
            'UPDATE members_member SET access = \'{"rfid_tags": ["0000000002"]}\' WHERE id = %s',
            [member.pk],
        ),
        "an authorization": lambda: Member.objects.filter(pk=member.pk).merge_json(
            "authorizations", {"authorizations": ["laser"]}
        ),
        "a username, by save()": lambda: Member.objects.filter(pk=member.pk).update(
            username="ada2"
        ),
        "an erasure closed": lambda: ErasureRequest.objects.filter(pk=request.pk).update(
            erased_at=timezone.now()
        ),
        "an erasure request deleted": lambda: ErasureRequest.objects.filter(pk=request.pk).delete(),
        "a member deleted": lambda: Member.objects.filter(pk=other.pk).delete(),
    }
    for what, change in changes.items():
        before = etag()
        change()
        reply = call(live_server, "GET", ACCESS, key=key, headers={"If-None-Match": before})
        assert reply.status == 200, what
        assert reply.headers["ETag"] != before, what

    unchanged = {
        "a note": lambda: Member.objects.filter(pk=member.pk).append_note("hi", author="staff"),
        "an email": lambda: Member.objects.filter(pk=member.pk).update(email="new@example.org"),
        "a name": lambda: Member.objects.filter(pk=member.pk).merge_json(
            "identity", {"first_name": "Augusta"}
        ),
    }
    for what, change in unchanged.items():
        before = etag()
        change()
        reply = call(live_server, "GET", ACCESS, key=key, headers={"If-None-Match": before})
        assert reply.status == 304, what


def test_it_answers_a_304_with_one_query_and_never_builds_the_list():
    key = new_key()
    MemberFactory.create_batch(3)
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    etag = client.get(ACCESS, **auth)["ETag"]

    with CaptureQueriesContext(connection) as queries:
        response = client.get(ACCESS, HTTP_IF_NONE_MATCH=etag, **auth)

    assert response.status_code == 304
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert "json_agg" not in queries[0]["sql"]
    assert "members_member" not in queries[0]["sql"]


def test_member_writes_do_not_wait_on_each_other_for_the_version():
    first, second = MemberFactory(), MemberFactory()
    written, release = threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                Member.objects.filter(pk=first.pk).update(username="slow")
                written.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    try:
        assert written.wait(10)
        with connection.cursor() as cursor:
            # Waiting on the version row would hit this timeout.
            cursor.execute("SET lock_timeout = '2s'")
        with transaction.atomic():
            Member.objects.filter(pk=second.pk).update(username="quick")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    finally:
        release.set()
        thread.join(10)
    assert set(Member.objects.values_list("username", flat=True)) == {"slow", "quick"}
