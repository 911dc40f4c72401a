"""A member logs in through allauth's form, edits the profile, and sees the change."""

import pytest

from members.models import Member
from tests.browser import orm
from tests.factories import DEFAULT_PASSWORD, MemberFactory


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_lets_a_member_log_in_edit_the_profile_and_see_it_on_the_dashboard(page, live_server):
    member = orm(
        MemberFactory,
        identity={"first_name": "Ada", "last_name": "Lovelace", "legacy_key": "kept"},
    )

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", member.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("form button[type=submit]:not(.link)")
    page.wait_for_url(f"{live_server.url}/dashboard/")
    assert "Hello, Ada" in page.text_content("h1")

    page.goto(f"{live_server.url}/dashboard/profile/")
    page.fill("input[name=first_name]", "Augusta")
    page.fill("input[name=nickname]", "Countess")
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard/profile/")
    assert "Saved." in page.content()

    page.goto(f"{live_server.url}/dashboard/")
    assert page.text_content("h1") == "Hello, Countess"  # the preferred name
    identity = orm(lambda: Member.objects.get(pk=member.pk).identity)
    assert identity == {
        "first_name": "Augusta",
        "last_name": "Lovelace",
        "nickname": "Countess",
        "legacy_key": "kept",
    }
