"""An imported member claims their login (README, "Moving from Deep Harbor"): "Forgot
password?" reaches the unusable login the import made, completing the reset verifies the
address, and they log in to a dashboard showing what Deep Harbor held on them. And an
imported duplicate, merged away, stays out of every later import."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "harbour-Lights-2031"


def reset_link(body: str) -> str:
    found = re.search(r"http://testserver(/accounts/password/reset/key/[^\s]+/)", body)
    assert found, body
    return found.group(1)


def sent_step_one_mail() -> list:
    """Signup step 1's mail: sent at once, or queued as a job (signup/tasks.py); a
    queued one is sent here the way its job would."""
    if not mail.outbox:
        from signup.mail import SIGNUP_MAILS
        from signup.models import SignupMail

        for row in SignupMail.objects.order_by("pk"):
            SIGNUP_MAILS.send(row.pk)
    return mail.outbox


def test_it_lets_an_imported_member_reset_their_password_log_in_and_see_their_data(imported):
    alice = imported[1]
    address = EmailAddress.objects.get(user=alice.user)
    assert (address.email, address.verified) == ("alice@example.org", False)
    assert not alice.user.has_usable_password()
    assert mail.outbox == []  # nothing was mailed at import

    client = Client()
    response = client.post("/accounts/password/reset/", {"email": " Alice@Example.org "})
    assert response.status_code == 302
    [sent] = mail.outbox
    assert sent.to == ["alice@example.org"]

    set_password = client.get(reset_link(sent.body))
    assert set_password.status_code == 302  # allauth keeps the key in the session
    form_url = set_password["Location"]
    response = client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]

    address.refresh_from_db()
    assert address.verified
    alice.user.refresh_from_db()
    assert alice.user.check_password(NEW_PASSWORD)

    member_client = Client()
    response = member_client.post(
        "/accounts/login/", {"login": "alice@example.org", "password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    page = member_client.get("/dashboard/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f"Hello, {alice.preferred_name}</h1>" in text
    assert "Stripe Member - $65" in text  # the level Deep Harbor recorded
    assert "Pending" in text
    keys = member_client.get("/dashboard/keys/").content.decode()
    assert "0000012345" in keys  # the imported RFID tag, in its 10-digit form


def test_it_verifies_only_the_address_of_the_login_that_reset(imported):
    alice, grace = imported[1], imported[9]
    client = Client()
    client.post("/accounts/password/reset/", {"email": "alice@example.org"})
    response = client.get(reset_link(mail.outbox[0].body))
    client.post(response["Location"], {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert EmailAddress.objects.get(user=alice.user).verified
    assert not EmailAddress.objects.get(user=grace.user).verified


def test_it_mails_the_existing_account_mail_with_the_reset_link_at_signup_step_one(imported):
    response = Client().post("/signup/", {"email": "ALICE@example.org"})

    assert response.status_code == 302
    [sent] = sent_step_one_mail()
    assert sent.to == ["alice@example.org"]
    assert "You already have an account" in sent.body
    assert "http://testserver/accounts/password/reset/" in sent.body
    assert "/signup/continue/" not in sent.body


def test_it_mails_a_member_without_a_login_nothing_at_reset(imported):
    # The duplicate of Alice keeps no email of its own, so no login: a reset for its
    # address reaches Alice's login only.
    Client().post("/accounts/password/reset/", {"email": "alice@example.org"})
    [sent] = mail.outbox
    assert sent.to == ["alice@example.org"]
    assert imported[5].user is None


def test_it_merges_an_imported_duplicate_and_a_rerun_never_brings_it_back(imported, deepharbor):
    from legacy.models import ImportedRow, Outcome
    from members.merge import member_merge
    from tests.factories import StaffFactory
    from tests.legacy.conftest import run_import

    alice, alicia = imported[1], imported[5]
    member_merge(survivor=alice, merged=alicia, choices={}, by=StaffFactory())

    row = ImportedRow.objects.get(legacy_id=5)
    assert row.outcome == Outcome.MERGED
    assert ImportedRow.objects.get(legacy_id=1).outcome == Outcome.IMPORTED
    out, _ = run_import("--source", deepharbor)
    assert out.startswith("imported 0,")
    alice.refresh_from_db()
    assert alice.user.email == "alice@example.org"
    # One first name is kept; the other is in the merge note, never lost.
    kept = alice.identity["first_name"]
    (other,) = {"Alice", "Alicia"} - {kept}
    assert f"First name: {other} (#" in alice.notes[-1]["note"]
