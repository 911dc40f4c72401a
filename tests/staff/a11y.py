"""axe-core in the browser tests: the checker bundled with axe-playwright-python,
evaluated in the page (evaluation is not subject to the page's CSP, which allows no
inline script), and screenshots for people to look at (git-ignored)."""

from pathlib import Path

import axe_playwright_python

AXE_JS = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}

# Rules left out where a page is mostly Django's stock admin markup, which is not ours
# to fix (README, "Architecture"): "region" (the stock header, breadcrumbs and footer sit outside
# landmarks) and "landmark-unique" (the stock nav sidebar and breadcrumbs).
STOCK_ADMIN_RULES = ("region", "landmark-unique")


def axe_problems(page, include="#content", *, exclude=(), disable=STOCK_ADMIN_RULES) -> list[str]:
    """The serious and critical violations within `include` (less `exclude`), one
    line each."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_JS + "\n;0")
    options = {
        "resultTypes": ["violations"],
        "rules": {rule: {"enabled": False} for rule in disable},
    }
    result = page.evaluate(
        "async ([context, options]) => await axe.run(context, options)",
        [{"include": [include], "exclude": list(exclude)}, options],
    )
    problems = []
    for violation in result["violations"]:
        if violation["impact"] not in ("serious", "critical"):
            continue
        targets = [", ".join(node["target"]) for node in violation["nodes"]][:5]
        problems.append(f"{page.url}: {violation['id']} ({violation['impact']}): {targets}")
    return problems


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def no_sideways_scroll(page) -> bool:
    """True when the page is no wider than the window (nothing overflows)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"
    )
