"""Accessibility checks for browser tests: axe-core (the copy bundled with
axe-playwright-python) run on the page at desktop and phone widths, and a screenshot
of each saved under the git-ignored `screenshots/` folder for people to look at.

Only serious and critical violations fail a test; the rest are axe's advice.
"""

from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from django.conf import settings

SCREENSHOTS = Path(settings.BASE_DIR) / "screenshots"
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}
FAILING_IMPACTS = ("serious", "critical")

_axe = Axe()


def _violations(page) -> list[dict]:
    results = _axe.run(page)
    return [v for v in results.response["violations"] if v["impact"] in FAILING_IMPACTS]


def check_page(page, name: str) -> list[str]:
    """Check the page as loaded at each width: axe's serious and critical violations
    and any sideways scrolling, as readable lines (empty when all is well). Saves
    `screenshots/<name>-<desktop|phone>.png`."""
    problems = []
    SCREENSHOTS.mkdir(exist_ok=True)
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        for violation in _violations(page):
            targets = ", ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
            problems.append(
                f"{name} at {width}px: {violation['id']} ({violation['impact']}): "
                f"{violation['help']} [{targets}]"
            )
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 0:
            problems.append(f"{name} at {width}px: scrolls sideways by {overflow}px")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    return problems
