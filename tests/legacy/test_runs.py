"""import_deepharbor as a whole: its summary, dry run, reruns, a row the database
refuses, and what it does to the source (nothing)."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.core import mail

from billing.models import Plan
from integrations.models import DoorEvent
from legacy.models import ImportedRow, Outcome
from members.models import (
    Authorization,
    AuthorizationGrant,
    Member,
    MemberEvent,
    RfidTag,
    User,
)
from tests.factories import MemberFactory
from tests.legacy.conftest import SQL, deepharbor_sql, run_import

pytestmark = pytest.mark.django_db

SUMMARY = (
    "imported 19, already imported 0, partial 3, duplicates 2, values fixed 8, tag conflicts 1,"
    " numbers changed 0, staff 2, door events 6\n"
)


def fingerprint() -> dict:
    """Everything the import can write, as counts and values."""
    return {
        "members": list(Member.objects.order_by("pk").values()),
        "users": list(User.objects.order_by("pk").values()),
        "addresses": list(EmailAddress.objects.order_by("pk").values()),
        "ledger": list(ImportedRow.objects.order_by("pk").values()),
        "tags": list(RfidTag.objects.order_by("pk").values()),
        "events": MemberEvent.objects.count(),
        "plans": list(Plan.objects.order_by("pk").values()),
        "authorizations": list(Authorization.objects.order_by("pk").values()),
        "door events": list(DoorEvent.objects.order_by("pk").values()),
        "grants": list(AuthorizationGrant.objects.order_by("pk").values()),
        "groups": sorted(Group.objects.values_list("name", "permissions")),
        "staff": list(User.objects.filter(is_staff=True).values_list("pk", "groups")),
    }


def test_it_prints_one_summary_line(deepharbor):
    out, err = run_import("--source", deepharbor)

    assert out == SUMMARY
    assert Member.objects.count() == 19
    assert Member.objects.partial().count() == 3
    assert Member.objects.exclude(duplicate_of=None).count() == 2
    assert "legacy id" not in err


def test_it_writes_nothing_on_a_dry_run_and_prints_the_same_summary(deepharbor):
    MemberFactory(id=1000)  # a number no Deep Harbor row has
    before = fingerprint()

    out, err = run_import("--source", deepharbor, "--dry-run")

    assert out == SUMMARY
    assert fingerprint() == before
    assert "dry run: nothing was written" in err


def test_it_changes_nothing_on_a_rerun(deepharbor):
    run_import("--source", deepharbor)
    before = fingerprint()

    out, _ = run_import("--source", deepharbor)

    assert out == (
        "imported 0, already imported 19, partial 0, duplicates 0, values fixed 0,"
        " tag conflicts 0, numbers changed 0, staff 0, door events 0\n"
    )
    assert fingerprint() == before


def test_it_imports_only_legacy_ids_the_ledger_has_not_seen(sources):
    url = sources.create(SQL.read_text())
    run_import("--source", url)
    # A member merged away (their row gone) and one erased stay out for good.
    merged = ImportedRow.objects.get(legacy_id=15)
    merged.member.delete()
    ImportedRow.objects.filter(legacy_id=15).update(outcome=Outcome.MERGED)
    ImportedRow.objects.filter(legacy_id=14).update(outcome=Outcome.ERASED, member=None)
    deepharbor_sql(
        url,
        """INSERT INTO member (id, identity, status) VALUES
           (20, '{"first_name": "Uma", "active_directory_username": "uma",
                  "emails": [{"type": "primary", "email_address": "uma@example.org"}]}',
            '{"membership_status": "active"}')""",
    )

    out, _ = run_import("--source", url)

    # Its NULL columns are completed at import: not partial.
    assert out.startswith("imported 1, already imported 19, partial 0,")
    assert Member.objects.get(legacy_id=20).email == "uma@example.org"
    assert not Member.objects.filter(legacy_id=15).exists()
    assert ImportedRow.objects.get(legacy_id=15).outcome == Outcome.MERGED


def test_it_reports_a_row_the_database_refuses_and_imports_the_rest_of_its_batch(deepharbor):
    # A member already carries legacy id 5 without a ledger row: the database's unique
    # index refuses row 5 in the middle of the batch.
    squatter = MemberFactory()
    Member.objects.filter(pk=squatter.pk).update(legacy_id=5)

    out, err = run_import("--source", deepharbor)

    assert out.startswith("imported 18, already imported 0,")
    refused = "refused by the database (members_member_legacy_id_key)"
    assert f"legacy id 5: not imported: {refused}" in err
    assert "1 rows not imported" in err
    assert not ImportedRow.objects.filter(legacy_id=5).exists()
    assert set(ImportedRow.objects.values_list("legacy_id", flat=True)) == set(range(1, 20)) - {5}
    # Nothing of row 5 is left behind: no login for its address, no stray member.
    assert Member.objects.count() == 19
    assert not User.objects.filter(username="alicia").exists()
    # Rows after it in the same batch are whole.
    assert Member.objects.get(legacy_id=6).user.email == "alice.other@example.org"

    Member.objects.filter(pk=squatter.pk).update(legacy_id=None)
    out, err = run_import("--source", deepharbor)
    assert out.startswith("imported 1, already imported 18,")
    assert Member.objects.get(legacy_id=5).duplicate_of.legacy_id == 1


def test_it_reports_a_row_that_cannot_be_mapped_and_goes_on(sources):
    url = sources.create(SQL.read_text())
    deepharbor_sql(url, """INSERT INTO member (id, identity) VALUES (20, '"just text"')""")

    out, err = run_import("--source", url)

    assert out.startswith("imported 19,")
    assert "legacy id 20: not imported: identity is not a JSON object" in err
    assert not ImportedRow.objects.filter(legacy_id=20).exists()


def test_it_writes_in_batches_with_the_same_result(deepharbor):
    from legacy.services import deepharbor_import

    summary = deepharbor_import(source_url=deepharbor, batch_size=3)

    assert summary.line() + "\n" == SUMMARY
    # Duplicates across batches are found the same way.
    assert Member.objects.get(legacy_id=5).duplicate_of.legacy_id == 1
    assert Member.objects.get(legacy_id=6).duplicate_of.legacy_id == 1


def test_it_only_reads_the_source(deepharbor):
    before = deepharbor_sql(deepharbor, "SELECT * FROM member ORDER BY id")

    run_import("--source", deepharbor)

    assert deepharbor_sql(deepharbor, "SELECT * FROM member ORDER BY id") == before


def test_it_sends_no_mail(deepharbor):
    run_import("--source", deepharbor)

    assert mail.outbox == []


def test_it_counts_a_status_that_is_no_json_object_as_partial(sources):
    """The summary's count and the admin's partial filter read one definition: a
    status holding a list has no membership_status, so the row is partial."""
    url = sources.create(SQL.read_text())
    deepharbor_sql(
        url,
        """INSERT INTO member (id, identity, connections, status, forms, access,
               authorizations, extras, notes)
           VALUES (20, '{"first_name": "Vic"}', '{}', '["active"]', '{}', '{}', '{}', '{}',
                   '[]')""",
    )

    out, _ = run_import("--source", url)

    assert out.startswith("imported 20, already imported 0, partial 4,")
    assert Member.objects.partial().filter(legacy_id=20).exists()
    assert Member.objects.partial().count() == 4
