"""The reports page in Chromium at desktop and phone widths: every chart drawn (bars
and lines with a size on screen), no console errors (no CSP refusal), axe-core clean,
nothing wider than the window; screenshots under screenshots/ (git-ignored)."""

import datetime

import pytest

from tests.browser import orm
from tests.factories import DEFAULT_PASSWORD, DoorEventFactory
from tests.reports_seed import odd_members, reports_staff
from tests.staff.a11y import WIDTHS, axe_problems, no_sideways_scroll, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _world():
    odd_members()
    now = datetime.datetime.now(datetime.UTC)
    for hours in (1, 5, 30, 60):
        DoorEventFactory(at=now - datetime.timedelta(hours=hours), granted=hours != 5)
    return reports_staff()


def test_the_reports_page_draws_its_charts_and_passes_axe_at_both_widths(page, live_server):
    staff = orm(_world)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{live_server.url}/admin/reports/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("input[name=login]", staff.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("form button[type=submit]:not(.link)")
    page.wait_for_url(f"{live_server.url}/admin/reports/")

    problems, overflowing = [], []
    for width_name, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.reload()
        charts = page.locator("svg.chart")
        assert charts.count() == page.locator(".report-figure").count() == 8
        for i in range(charts.count()):
            box = charts.nth(i).bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 80, (width, i)
        # The bars of "status now" have a height on screen where members are counted.
        drawn = page.locator("#report-status rect.chart-bar").evaluate_all(
            "bars => bars.filter(b => b.getBoundingClientRect().height > 0).length"
        )
        assert drawn >= 5
        # One line per status label (the total is in the table only), each named.
        lines = page.locator("#report-status_by_month g.chart-line")
        assert lines.count() == 8
        assert lines.locator("text").all_text_contents()[-1] == "erased"
        problems += axe_problems(page, "#content")
        if not no_sideways_scroll(page):
            overflowing.append(width_name)
        screenshot(page, f"admin-reports-{width_name}")

    # The funnel's period form works without any script.
    page.fill("#id_start", "2026-01-01")
    page.fill("#id_end", "2026-01-31")
    page.click("#report-funnel button[type=submit]")
    page.wait_for_url("**start=2026-01-01**")
    assert "From 2026-01-01 to 2026-01-31" in page.text_content("#report-funnel")

    assert errors == []
    assert problems == [], "\n".join(problems)
    assert overflowing == []
