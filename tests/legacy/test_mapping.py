"""Each rule of the import's mapping (README, "Moving from Deep Harbor"), on deepharbor.sql's
rows."""

import datetime

import pytest

from billing.models import Plan
from legacy.mapping import map_row, username_of
from legacy.models import ImportedRow
from members import scaffolding
from members.models import Authorization, Member, RfidTag

pytestmark = pytest.mark.django_db


def ledger(member) -> list[dict]:
    return ImportedRow.objects.get(legacy_id=member.legacy_id).detail


def fixes(member) -> list[dict]:
    """The values the import fixed (the columns it completed are listed apart)."""
    return [fix for fix in ledger(member) if fix["kind"] != "completed"]


def completed(member) -> list[str]:
    return [fix["field"] for fix in ledger(member) if fix["kind"] == "completed"]


def fixed_fields(member) -> list[str]:
    return [fix["field"] for fix in fixes(member)]


def test_it_takes_the_primary_address_in_canonical_form(imported):
    assert imported[1].email == "alice@example.org"
    assert imported[1].identity["emails"] == [
        {"type": "primary", "email_address": "alice@example.org"}
    ]
    # The element of type "primary", not the first; without one, the first.
    assert imported[16].email == "peggy@example.org"
    assert imported[17].email == "rupert@work.example"


def test_it_keeps_an_address_that_is_none_in_identity_and_sets_no_email(imported):
    sybil = imported[18]
    assert sybil.email == ""
    assert sybil.identity["emails"] == [{"type": "primary", "email_address": "sybil at example"}]
    assert fixed_fields(sybil) == ["email"]
    assert fixes(sybil)[0]["value"] == "sybil at example"


def test_it_takes_a_directory_name_that_fits_the_rule_as_username(imported):
    assert imported[1].username == "alice"
    assert imported[1].identity["active_directory_username"] == "alice"


def test_it_leaves_a_username_breaking_the_rule_empty_and_keeps_the_original(imported):
    eve = imported[7]
    assert eve.username == ""
    assert eve.identity["active_directory_username"] == "eve smith!"
    assert fixes(eve) == [
        {
            "field": "username",
            "value": "eve smith!",
            "fix": "breaks the username rule; left empty",
            "kind": "value",
        }
    ]


def test_it_keeps_the_nickname(imported):
    assert imported[1].identity["nickname"] == "Al"
    assert imported[1].identity["pronouns"] == "she/her"
    assert imported[1].identity["birthday"] == "1990-01-02"


def test_it_moves_discord_handle_to_discord_username(imported):
    assert imported[1].connections == {"phone": "312-555-0101", "discord_username": "alice#0001"}
    assert imported[2].connections["discord_username"] == "bobthebaker"


def test_it_moves_the_stripe_id_to_the_status_unless_one_is_there(imported):
    bob = imported[2]
    assert bob.status["stripe_customer_id"] == "cus_BOB"
    assert "stripe_id" not in bob.connections
    trent = imported[19]
    assert trent.status["stripe_customer_id"] == "cus_NEW"
    assert trent.connections == {"stripe_id": "cus_OLD"}


@pytest.mark.parametrize(
    ("legacy_id", "status"),
    [
        (1, "pending"),
        (2, "active"),
        (12, "banned"),
        (13, "suspended"),
        (14, "lapsed"),
        (15, "lapsed"),
    ],
)
def test_it_lower_cases_statuses_and_makes_inactive_lapsed(imported, legacy_id, status):
    assert imported[legacy_id].status["membership_status"] == status


def test_it_leaves_a_null_or_missing_status_missing(imported):
    assert imported[3].status is None
    assert imported[4].status["membership_status"] is None
    assert imported[4].status["stripe_customer_id"] == "cus_DAN"
    assert "membership_status" not in imported[17].status
    for legacy_id in (3, 4, 17):
        assert imported[legacy_id].membership_status is None


def test_it_keeps_the_membership_level_as_it_is(imported):
    assert imported[1].status["membership_level"] == "Stripe Member - $65"
    assert imported[17].status["membership_level"] == "Student Member"


def test_it_renames_the_form_keys_and_reads_string_booleans(imported):
    assert imported[1].forms == {
        "waiver_signed_date": "2021-03-04",
        "essentials_form": "2021-03-05",
        "terms_of_use_accepted": True,
        "is_21_or_older": False,
    }
    assert imported[2].forms["terms_of_use_accepted"] is False
    assert imported[1].status["waiver_signed"] is True
    # Deep Harbor's own boolean spelling is a mapping, not a fix.
    assert fixes(imported[1]) == []


def test_it_gives_id_check_by_as_the_checkers_username(imported):
    forms = imported[2].forms
    assert forms["id_check_by"] == "alice"
    assert forms["id_check_date"] == "2019-06-01"
    assert (forms["id_check_1"], forms["id_check_2"]) == ("IL", "DL-1234")


def test_it_empties_an_id_check_by_naming_no_known_member_and_says_so(imported):
    mallory = imported[13]
    assert mallory.forms["id_check_by"] == ""
    assert fixes(mallory) == [
        {
            "field": "forms.id_check_by",
            "value": "999",
            "fix": "no username known for that member",
            "kind": "value",
        }
    ]


def test_it_empties_dates_that_are_not_iso_and_keeps_the_originals(imported):
    heidi = imported[10]
    assert heidi.identity["birthday"] is None
    assert heidi.status["member_since"] is None
    assert heidi.status["renewal_date"] is None
    assert heidi.forms == {"waiver_signed_date": None, "id_check_date": None}
    originals = {fix["field"]: fix["value"] for fix in fixes(heidi)}
    assert originals == {
        "identity.birthday": "n/a",
        "status.member_since": "03/04/2021",
        "status.renewal_date": "",
        "forms.waiver_signed_date": "",
        "forms.id_check_date": "last tuesday",
    }


def test_it_makes_every_notes_shape_a_list_of_notes(imported):
    assert imported[2].notes == [
        {"note": "Welcome aboard", "from": "admin", "timestamp": "2019-06-01"}
    ]
    assert imported[11].notes == [
        {"note": "New style", "from": "staff1", "timestamp": "2023-01-01T00:00:00+00:00"},
        {"note": "Old style", "from": "staff2", "timestamp": "2022-12-01"},
    ]
    assert imported[1].notes == [
        {"note": "Signed up online", "from": "signup", "timestamp": "2021-03-04T10:00:00+00:00"}
    ]


def test_it_pads_rfid_tags_to_ten_digits(imported):
    assert imported[1].access == {"rfid_tags": ["0000012345"]}
    assert imported[2].access == {"rfid_tags": ["0000000042", "0000000099"]}
    assert set(RfidTag.objects.filter(member=imported[2]).values_list("tag", flat=True)) == {
        "0000000042",
        "0000000099",
    }


def test_it_leaves_a_tag_with_its_first_holder_and_reports_it(imported):
    grace = imported[9]
    assert grace.access == {"rfid_tags": ["0000000777"]}
    assert RfidTag.objects.get(tag="0000012345").member == imported[1]
    assert fixes(grace) == [
        {
            "field": "access.rfid_tags",
            "value": "0000012345",
            "fix": f"held by member #{imported[1].pk}; dropped",
            "kind": "tag conflict",
        }
    ]
    assert "tag conflicts 1" in imported["out"]


def test_it_completes_the_null_columns_but_status_and_records_which(imported):
    carol = imported[3]
    for column in ("notes", "access", "authorizations", "extras"):
        assert getattr(carol, column) == scaffolding.default(column), column
    assert completed(carol) == ["notes", "access", "authorizations", "extras"]
    # A missing status is a real unknown: it stays missing, and Carol partial.
    assert carol.status is None
    assert Member.objects.partial().filter(pk=carol.pk).exists()
    # A column Deep Harbor filled is kept as it was, however little it holds.
    assert carol.forms == {"terms_of_use_accepted": True}
    assert completed(imported[1]) == []
    # It is the scaffolding function's own default, not one of the import's.
    assert ledger(carol)[-1] == {
        "field": "extras",
        "value": None,
        "fix": "not set in Deep Harbor; completed with the default",
        "kind": "completed",
    }


def test_it_keeps_the_other_columns_as_they_were(imported):
    alice = imported[1]
    assert alice.authorizations == {
        "authorizations": ["Laser Cutter"],
        "computer_authorizations": ["Wiki Admin"],
    }
    assert alice.extras == {"storage_id": 7, "storage_area": "B2"}


def test_it_keeps_date_added(imported):
    assert imported[1].date_added == datetime.datetime(2021, 3, 4, 10, 0, tzinfo=datetime.UTC)
    assert imported[19].date_added == datetime.datetime(2023, 6, 18, 9, 0, tzinfo=datetime.UTC)


def test_it_adds_a_note_with_the_fixes_only_where_notes_is_not_null(imported):
    eve = imported[7]
    assert eve.notes[-1]["from"] == "import"
    assert eve.notes[-1]["note"] == (
        "Imported from Deep Harbor #7: username: breaks the username rule; left empty"
        " (was 'eve smith!')"
    )
    datetime.datetime.fromisoformat(eve.notes[-1]["timestamp"])
    # Sybil's notes were NULL: completed empty, without the note; the ledger has her fix.
    assert imported[18].notes == []
    assert fixed_fields(imported[18]) == ["email"]
    # A row without fixes gets no note.
    assert [n["from"] for n in imported[11].notes] == ["staff1", "staff2"]


def test_it_records_each_row_in_the_ledger(imported):
    rows = ImportedRow.objects.order_by("legacy_id")
    assert [r.legacy_id for r in rows] == list(range(1, 20))
    assert {r.outcome for r in rows} == {"imported"}
    assert all(r.member.legacy_id == r.legacy_id for r in rows)


def test_it_audits_every_imported_row_as_import(imported):
    for legacy_id in range(1, 20):
        events = list(imported[legacy_id].events.select_related("pgh_context"))
        assert [e.pgh_label for e in events] == ["insert"]
        assert events[0].pgh_context.metadata["source"] == "import"


def test_it_makes_plans_of_products_and_the_catalog_of_authorizations(imported):
    assert dict(Plan.objects.values_list("stripe_product_id", "name")) == {
        "prod_full65": "Stripe Member - $65",
        "prod_student": "Student Member",
    }
    assert dict(Authorization.objects.values_list("name", "kind")) == {
        "Laser Cutter": "physical",
        "Wiki Admin": "computer",
        "Wood Shop": "physical",
    }
    assert "product 3: no stripe_product_id; no plan made" in imported["err"]


def test_it_leaves_a_username_of_the_placeholder_form_empty():
    # member-<number> is what a User gets when its member has no username (docs/shapes.md).
    mapped = map_row({"id": 90, "identity": {"active_directory_username": "Member-12"}})
    assert mapped.username == ""
    assert [(f.field, f.fix) for f in mapped.fixes] == [
        ("username", "the form of a placeholder login name; left empty")
    ]
    assert username_of({"active_directory_username": "member-12"}) == ""
    assert username_of({"active_directory_username": "member_12"}) == "member_12"
