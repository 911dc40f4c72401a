"""Staff log in, filter the partial members, repair them, and see them complete."""

import pytest

from members.models import Member
from tests.browser import orm
from tests.factories import DEFAULT_PASSWORD, MemberFactory, StaffFactory


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_lets_staff_filter_partial_members_and_repair_them(page, live_server):
    staff = orm(StaffFactory)
    partial = orm(lambda: [MemberFactory(notes=None), MemberFactory(status=None, extras=None)])
    complete = orm(MemberFactory)

    page.goto(f"{live_server.url}/admin/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("input[name=login]", staff.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("form button[type=submit]:not(.link)")
    page.wait_for_url(f"{live_server.url}/admin/")
    assert "2 partial members" in page.text_content(".todo-panel")

    page.click(".todo-panel a[href*='scaffolding=partial']")
    page.wait_for_url("**/admin/members/member/?scaffolding=partial")
    boxes = page.locator("#result_list input[name=_selected_action]")
    listed = {int(boxes.nth(i).get_attribute("value")) for i in range(boxes.count())}
    assert listed == {m.pk for m in partial}
    assert complete.pk not in listed

    page.check("#action-toggle")
    page.select_option("select[name=action]", "repair_members")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success")
    assert "Repaired 2 members (3 columns filled); 0 were already complete" in page.text_content(
        ".messagelist .success"
    )

    page.goto(f"{live_server.url}/admin/members/member/?scaffolding=partial")
    assert page.locator("#result_list tbody tr").count() == 0
    ids = [m.pk for m in partial]
    assert orm(lambda: Member.objects.filter(pk__in=ids).partial().count()) == 0
