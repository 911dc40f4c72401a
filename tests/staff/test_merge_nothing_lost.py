"""A merge with the page's own proposals loses nothing: Ada signs up on the portal, then
the Deep Harbor import brings her old record (active for years, waiver, ID check,
storage, Discord name, nickname, AD username) as a duplicate of it; staff open the
merge page from the duplicate and press Merge without changing a choice."""

import datetime
import json
import re

import pytest

from members.merge import ABSENT, choice_keys, choice_label, choice_value, is_merged_away
from members.models import Member, RfidTag
from signup.services import member_signup
from tests.legacy.conftest import SQL, Sources, run_import
from tests.staff.conftest import messages_of

pytestmark = pytest.mark.django_db

SCHEMA = SQL.read_text().split("-- rows")[0]
ADA = {
    "identity": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "nickname": "Countess",
        "pronouns": "she/her",
        "birthday": "1985-12-10",
        "active_directory_username": "ada_admin",
        "emails": [{"type": "primary", "email_address": "ada@example.org"}],
    },
    "connections": {"phone": "312-555-0199", "discord_username": "ada_admin"},
    "status": {
        "membership_status": "Active",
        "membership_level": "Stripe Member - $65",
        "member_since": "2020-02-01",
        "waiver_signed": True,
    },
    "forms": {
        "waiver_signed_at": "2020-02-01",
        "id_check_1": "IL",
        "id_check_2": "DL-1815",
        "id_check_date": "2020-02-01",
        "terms_of_use_accepted": "true",
        "essentials_forms_completed_date": "2020-02-02",
        "is_21_or_older": "true",
    },
    "access": {"rfid_tags": ["4242"]},
    "authorizations": {"authorizations": ["Laser Cutter"], "computer_authorizations": []},
    "extras": {"storage_id": "A-01", "storage_area": "Shelves"},
    "notes": [{"note": "Helps with open house", "from": "bob", "timestamp": None}],
}


@pytest.fixture
def deep_harbor_ada():
    made = Sources()
    columns = ", ".join(ADA)
    values = ", ".join(f"'{json.dumps(v)}'" for v in ADA.values())
    yield made.create(
        SCHEMA
        + "INSERT INTO available_authorizations (name) VALUES ('Laser Cutter');"
        + f"INSERT INTO member (id, {columns}, date_added) VALUES (7, {values}, '2020-02-01');"
    )
    made.drop()


def proposed_form(page: str) -> dict:
    """What the merge page posts when staff press Merge without changing anything."""
    data = {m[0]: m[1] for m in re.findall(r'name="([^"]+)" value="([^"]*)" checked', page)}
    data["with"] = re.search(r'name="with" value="(\d+)"', page).group(1)
    data["merge"] = "Merge"
    return data


def test_it_merges_an_imported_member_and_a_new_signup_with_the_proposals_losing_nothing(
    as_superuser, deep_harbor_ada, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        signup = member_signup(
            email="ada@example.org",
            username="adal",
            password="a long enough passphrase",
            first_name="Ada",
            last_name="Lovelace",
            birthday=datetime.date(1985, 12, 10),
            phone="+1 312 555 0100",
            is_21_or_older=True,
        )
    run_import("--source", deep_harbor_ada)
    imported = Member.objects.get(legacy_id=7)
    assert imported.duplicate_of_id == signup.pk
    signup.refresh_from_db()
    before = {m.pk: Member.objects.get(pk=m.pk) for m in (signup, imported)}

    page = as_superuser.get(f"/admin/members/member/{imported.pk}/merge/?with={signup.pk}")
    form = proposed_form(page.content.decode())
    assert form["survivor"] == str(signup.pk)
    response = as_superuser.post(f"/admin/members/member/{imported.pk}/merge/", form, follow=True)

    assert any(m.startswith("Merged member") for m in messages_of(response))
    ada = Member.objects.get(pk=signup.pk)
    assert is_merged_away(Member.objects.get(pk=imported.pk))
    # What six years at the space left on the old record is all on Ada now.
    assert ada.status["membership_status"] == "active"
    assert ada.status["member_since"] == "2020-02-01"
    assert ada.status["membership_level"] == "Stripe Member - $65"
    assert ada.status["waiver_signed"] is True
    assert ada.forms["waiver_signed_date"] == "2020-02-01"
    assert (ada.forms["id_check_1"], ada.forms["id_check_2"]) == ("IL", "DL-1815")
    assert ada.forms["essentials_form"] == "2020-02-02"
    assert ada.extras == {"storage_id": "A-01", "storage_area": "Shelves"}
    assert ada.connections["discord_username"] == "ada_admin"
    assert ada.identity["nickname"] == "Countess"
    assert ada.identity["active_directory_username"] == "ada_admin"
    assert ada.date_added.date() == datetime.date(2020, 2, 1)
    # The login she made at signup stays hers.
    assert (ada.email, ada.username, ada.user_id) == ("ada@example.org", "adal", signup.user_id)
    # Lists united.
    assert set(RfidTag.objects.filter(member=ada).values_list("tag", flat=True)) == {"0000004242"}
    assert ada.authorizations["authorizations"] == ["Laser Cutter"]
    texts = [n["note"] for n in ada.notes]
    assert "Helps with open house" in texts
    assert "New signup via member portal" in texts
    # Every value of either record is on Ada, or listed in the merge note.
    merge_note = texts[-1]
    for choice in choice_keys(*before.values()):
        kept = choice_value(ada, choice)
        for member in before.values():
            value = choice_value(member, choice)
            if value in (ABSENT, None, "") or value == kept:
                continue
            assert f"{choice_label(choice)}: " in merge_note, choice
            assert f"(#{member.pk})" in merge_note, choice
    # The two phone numbers differ: the one not kept is in the note.
    phones = {m.connections["phone"] for m in before.values()}
    (lost_phone,) = phones - {ada.connections["phone"]}
    assert f"Phone: {lost_phone}" in merge_note
