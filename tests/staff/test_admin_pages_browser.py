"""The admin pages the project draws itself, in Chromium: staff fix a partial member
with the structured fields alone, and the index panel, member list, member editing,
activation, history, merge and the authorize page pass axe-core at desktop and phone widths, with
screenshots saved under screenshots/ (git-ignored)."""

import datetime

import pytest

from members.grants import authorization_grant, authorization_revoke
from members.models import Authorization, AuthorizationKind, Member
from tests.browser import orm
from tests.factories import DEFAULT_PASSWORD, MemberFactory, StaffFactory
from tests.staff.a11y import WIDTHS, axe_problems, no_sideways_scroll, screenshot


def _log_in(page, live_server, staff, path="/admin/"):
    page.goto(f"{live_server.url}{path}")
    page.wait_for_url("**/accounts/login/**")
    page.fill("input[name=login]", staff.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("form button[type=submit]:not(.link)")
    page.wait_for_url(f"{live_server.url}{path}")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_lets_staff_fix_a_partial_member_with_the_structured_fields_only(page, live_server):
    staff = orm(StaffFactory)
    orm(lambda: Authorization.objects.create(name="Laser cutter", kind=AuthorizationKind.PHYSICAL))
    member = orm(lambda: MemberFactory(status=None, notes=None, access=None))

    _log_in(page, live_server, staff)
    assert "1 partial member" in page.text_content(".todo-panel")
    page.click(".todo-panel a[href*='scaffolding=partial']")
    page.wait_for_url("**/admin/members/member/?scaffolding=partial")
    page.click(f"#result_list a[href*='/{member.pk}/change/']")
    page.wait_for_url(f"**/admin/members/member/{member.pk}/change/**")

    assert page.locator(".column-missing").count() == 3
    # Status: typed in (the missing column is filled with the defaults and this choice).
    page.select_option("select[name=membership_status]", "active")
    page.fill("input[name=member_since]", "2026-01-15")
    # Notes: filled from the defaults, and a first note added.
    page.check("input[name=notes__fill]")
    page.fill("textarea[name=add_note]", "Record repaired at the front desk.")
    # Access: a tag typed into the "add a tag" box, then one more through the button.
    page.check("input[name=access__fill]")
    page.fill("#id_rfid_tags_new", "4242")
    page.click(".tag-add-more")
    page.fill("#id_rfid_tags_new_1", "0000000043")
    page.check("input[name=authorizations__authorizations][value='Laser cutter']")
    page.click("input[name=_continue]")

    page.wait_for_selector(".messagelist .success")
    assert page.locator(".column-missing").count() == 0
    fixed = orm(lambda: Member.objects.get(pk=member.pk))
    assert fixed.status["membership_status"] == "active"
    assert fixed.status["member_since"] == "2026-01-15"
    assert fixed.status["membership_level"] == "New Member"  # the default
    assert [n["note"] for n in fixed.notes] == ["Record repaired at the front desk."]
    assert fixed.notes[0]["from"] == staff.username
    assert fixed.access == {"rfid_tags": ["0000004242", "0000000043"]}
    assert fixed.authorizations["authorizations"] == ["Laser cutter"]
    assert not orm(lambda: Member.objects.filter(pk=member.pk).partial().exists())

    # A tag removed with its box.
    page.check("input[name=rfid_tags__remove][value='0']")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    assert orm(lambda: Member.objects.get(pk=member.pk).access) == {"rfid_tags": ["0000000043"]}


def _world():
    holder = MemberFactory(
        notes=[
            {
                "note": "A long note " + "without-any-break-" * 30,
                "from": "bo",
                "timestamp": "2026-01-01T10:00:00+00:00",
            }
        ]
    )
    partial = MemberFactory(extras=None, connections=None)
    Member.objects.filter(pk=partial.pk).merge_json("status", {"legacy_blob": "x" * 400})
    pending = MemberFactory(membership="pending")
    Member.objects.filter(pk=pending.pk).merge_json(
        "status", {"subscription_status": "active", "membership_level": "z" * 300}
    )
    twin = MemberFactory(duplicate_of=holder, user=None, email="", username="twin")
    # A grant and a revoked one, for the authorize page's table.
    laser = Authorization.objects.create(name="Laser cutter")
    Authorization.objects.create(name="Wiki", kind="computer")
    grant = authorization_grant(member_id=holder.pk, authorization=laser, by=None, note="ok")
    authorization_revoke(member_id=holder.pk, grant_id=grant.pk, by=None)
    authorization_grant(
        member_id=holder.pk, authorization=laser, by=None, expires_on=datetime.date(2099, 1, 1)
    )
    return holder, partial, pending, twin


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_project_admin_pages_pass_axe_at_desktop_and_phone_widths(page, live_server):
    staff = orm(StaffFactory)
    holder, partial, pending, twin = orm(_world)
    _log_in(page, live_server, staff)

    changelist = "/admin/members/member/"
    pages = {
        # name: (path, what the project draws there)
        "index": ("/admin/", ".todo-panel"),
        # The list without the stock search bar (its label is an icon: stock markup).
        "member-list": (changelist, "#changelist-form"),
        "member-edit": (f"{changelist}{partial.pk}/change/", "#content"),
        "member-edit-notes": (f"{changelist}{holder.pk}/change/", "#content"),
        "member-raw-json": (f"{changelist}{holder.pk}/change/?advanced=1", "#content"),
        "history": (f"{changelist}{holder.pk}/history/", "#content"),
        "merge": (f"{changelist}{twin.pk}/merge/?with={holder.pk}", "#content"),
        "authorize": (f"{changelist}{holder.pk}/authorizations/", "#content"),
        "authorize-find": (f"{changelist}authorizations/?q=Ada", "#content"),
    }
    problems, overflowing = [], []
    for width_name, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        for name, (path, scope) in pages.items():
            response = page.goto(f"{live_server.url}{path}")
            assert response is not None and response.status == 200, (name, path)
            problems += axe_problems(page, scope)
            screenshot(page, f"admin-{name}-{width_name}")
            wide = name in ("history", "member-edit", "member-edit-notes", "index")
            if wide and not no_sideways_scroll(page):
                overflowing.append(f"{name} at {width}px")
        # The activation page, through its action.
        page.goto(f"{live_server.url}{changelist}?onboarding=awaiting")
        page.check(f"#result_list input[name=_selected_action][value='{pending.pk}']")
        page.select_option("select[name=action]", "activate_members")
        page.click("button[name=index]")
        page.wait_for_selector("input[name=id_checked_on]")
        problems += axe_problems(page, "#content")
        screenshot(page, f"admin-activate-{width_name}")
    assert problems == [], "\n".join(problems)
    assert overflowing == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_member_list_shows_every_column_unclipped_at_1280(page, live_server):
    staff = orm(StaffFactory)
    orm(lambda: MemberFactory(status=None, notes=None, access=None, extras=None, forms=None))
    _log_in(page, live_server, staff, "/admin/members/member/")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.reload()
    headers = page.locator("#result_list thead th").all_text_contents()
    assert any("Subscription" in h for h in headers)
    # Every cell fits its column and the table fits the page: nothing is cut off.
    clipped = page.evaluate(
        """() => [...document.querySelectorAll('#result_list td, #result_list th')]
            .filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.className)"""
    )
    assert clipped == []
    # The list's own scroll box does not scroll sideways: every column is in view.
    assert page.evaluate(
        "() => { const box = document.querySelector('#changelist .results');"
        " return box.scrollWidth <= box.clientWidth + 1; }"
    )
    assert page.evaluate(
        "() => document.querySelector('#result_list').getBoundingClientRect().right"
        " <= window.innerWidth"
    )
    screenshot(page, "admin-member-list-partial-desktop")


def _feed_rows():
    """Members with long names and addresses, their feed events, and dead deliveries
    holding a receiver's whole HTML error page."""
    from integrations.models import Delivery, DeliveryState, Endpoint

    endpoint = Endpoint.objects.create(
        name="door board", url="https://door.example.org/hooks/members", secret="s" * 32
    )
    for n in range(12):
        member = MemberFactory(
            email=f"a.very.long.address.for.member.number.{n}@members.example.org",
            username=f"longusername{n}",
        )
        event = member.feed_events.get()
        Delivery.objects.create(
            endpoint=endpoint,
            event=event,
            member_id=member.pk,
            sequence=event.sequence,
            state=DeliveryState.DEAD,
            attempts=35,
            last_answer="HTTP 502: <html>" + "<p>Bad gateway, try again later</p>" * 300,
        )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "path",
    [
        "/admin/members/member/",
        "/admin/integrations/delivery/",
        "/admin/integrations/feedevent/",
    ],
)
def test_it_fits_the_lists_in_1280_pixels_without_sideways_scrolling(page, live_server, path):
    staff = orm(StaffFactory)
    orm(_feed_rows)
    page.set_viewport_size({"width": 1280, "height": 900})
    _log_in(page, live_server, staff, path)
    assert page.locator("#result_list tbody tr").count() >= 12
    screenshot(page, f"list-1280-{path.strip('/').replace('/', '-')}")
    assert no_sideways_scroll(page), page.evaluate("document.documentElement.scrollWidth")
    # Django's list scrolls inside its own box: the table must fit that box too.
    widths = page.evaluate(
        "() => { const r = document.querySelector('#changelist .results');"
        " return [r.scrollWidth, r.clientWidth]; }"
    )
    assert widths[0] <= widths[1] + 1, widths
