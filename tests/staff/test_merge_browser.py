"""Staff find a duplicate through the "possible duplicates" filter, open the merge page
from its member page, merge it, and see the result."""

import pytest

from members.merge import is_merged_away
from members.models import Member, RfidTag
from tests.browser import orm
from tests.factories import DEFAULT_PASSWORD, MemberFactory, StaffFactory


def _pair():
    holder = MemberFactory(access={"rfid_tags": ["0000000011"]})
    twin = MemberFactory(
        user=None,
        email="",
        username="alicia",
        duplicate_of=holder,
        access={"rfid_tags": ["0000000022"]},
        identity={
            "first_name": "Alicia",
            "last_name": "Archer",
            "emails": [{"type": "primary", "email_address": holder.email}],
        },
        legacy_id=5,
    )
    bystander = MemberFactory()
    return holder, twin, bystander


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_lets_staff_find_a_duplicate_merge_it_and_see_the_result(page, live_server):
    staff = orm(StaffFactory)
    holder, twin, bystander = orm(_pair)

    page.goto(f"{live_server.url}/admin/members/member/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("input[name=login]", staff.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("form button[type=submit]:not(.link)")
    page.wait_for_url(f"{live_server.url}/admin/members/member/")

    # The filter, as staff find it in the sidebar.
    page.click("#changelist-filter a[href*='duplicates=only']")
    page.wait_for_url("**/admin/members/member/?duplicates=only")
    boxes = page.locator("#result_list input[name=_selected_action]")
    assert [boxes.nth(i).get_attribute("value") for i in range(boxes.count())] == [str(twin.pk)]

    page.click(f"#result_list a[href*='/{twin.pk}/change/']")
    page.wait_for_url(f"**/admin/members/member/{twin.pk}/change/**")
    page.click(f"text=Merge with #{holder.pk}")
    page.wait_for_url(f"**/admin/members/member/{twin.pk}/merge/?with={holder.pk}")
    assert page.is_checked(f"input[name=survivor][value='{holder.pk}']")
    # The duplicate's username wins; the holder stays.
    page.check(f"input[name=choice_username][value='{twin.pk}']")
    page.click("input[name=merge]")

    page.wait_for_url(f"**/admin/members/member/{holder.pk}/change/**")
    success = page.text_content(".messagelist .success")
    assert f"Merged member #{twin.pk} into #{holder.pk}: 1 RFID tag moved" in success
    assert page.locator(f"a[href$='/{twin.pk}/history/']").count() == 1

    page.goto(f"{live_server.url}/admin/members/member/?duplicates=yes")
    assert page.locator("#result_list tbody tr").count() == 0

    def outcome():
        survivor = Member.objects.get(pk=holder.pk)
        merged = Member.objects.get(pk=twin.pk)
        tags = set(RfidTag.objects.filter(member=survivor).values_list("tag", flat=True))
        return survivor.username, tags, is_merged_away(merged), Member.objects.count()

    username, tags, merged_away, count = orm(outcome)
    assert username == "alicia"
    assert tags == {"0000000011", "0000000022"}
    assert merged_away
    assert count == 3  # nothing deleted
    assert bystander.pk


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_merge_page_fits_a_phone_without_scrolling_sideways(page, live_server):
    staff = orm(StaffFactory)
    holder, twin, _ = orm(_pair)

    def long_values():
        # Long unbroken values are what pushed the old table past the screen.
        Member.objects.filter(pk=twin.pk).update(
            extras={"storage_id": "A-01", "storage_area": "x" * 120},
            connections={"phone": "1" * 60, "discord_username": "ada_admin_" * 8},
        )

    orm(long_values)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/admin/members/member/{twin.pk}/merge/?with={holder.pk}")
    page.wait_for_url("**/accounts/login/**")
    page.fill("input[name=login]", staff.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("form button[type=submit]:not(.link)")
    page.wait_for_url(f"**/admin/members/member/{twin.pk}/merge/?with={holder.pk}")

    assert page.locator("fieldset[data-choice='extras.storage_area']").count() == 1
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    # What sticks out, named in the failure.
    wide = page.evaluate(
        "() => [...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > innerWidth + 1)"
        ".slice(0, 5).map(e => e.tagName + '.' + e.className)"
    )
    assert widths[0] <= widths[1], (widths, wide)
    # The choices are usable there: pick the other phone and merge.
    page.check(f"input[name='choice_connections.phone'][value='{holder.pk}']")
    page.click("input[name=merge]")
    page.wait_for_url(f"**/admin/members/member/{holder.pk}/change/**")
    kept = orm(lambda: Member.objects.get(pk=holder.pk).connections["phone"])
    assert kept == "+1 555 0100"
