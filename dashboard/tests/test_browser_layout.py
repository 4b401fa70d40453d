"""Dense pages that fit: no horizontal scroll on any page at 1440×900 and 390×844 (Chromium)."""

import pytest

from events.tests.plan_life import make_plan_life

pytestmark = pytest.mark.slow

SIZES = [(1440, 900), (390, 844)]
PAGES = ["/", "/trades/", "/decisions/", "/agents/", "/backtests/", "/market/", "/wallets/"]


def _overflow(page) -> list[str]:
    """The page's scroll width beyond the viewport, and the widest elements that cause it."""
    return page.evaluate(
        """() => {
        const width = document.documentElement.clientWidth;
        if (document.documentElement.scrollWidth <= width) return [];
        return [...document.querySelectorAll("body *")]
          .filter((el) => el.getBoundingClientRect().right > width + 1)
          .slice(0, 8)
          .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className} ${el.getBoundingClientRect().right}`);
    }"""
    )


@pytest.mark.parametrize(("width", "height"), SIZES, ids=["1440x900", "390x844"])
def test_no_page_scrolls_sideways(users, open_tab, server_side, width, height):
    from agents.tests.shadows import block_with_shadow

    life = server_side(make_plan_life, trades=3, blocks=2, heartbeats=30)
    shadowed, _ = server_side(block_with_shadow)
    tab = open_tab(viewport={"width": width, "height": height})
    tab.login("ada", "/")
    paths = [
        *PAGES,
        f"/decisions/events/{life.trades[0]['fill'].event_id}/",
        f"/decisions/chains/{life.correlation_id}/",
        f"/decisions/events/{shadowed.event_id}/",  # a block with its "had this trade gone through"
        "/decisions/?ordering=symbol&noise=1",
    ]
    wide = {}
    for path in paths:
        tab.goto(path)
        tab.page.wait_for_load_state("networkidle")
        name = path.strip("/").split("/")[0] or "overview"
        if name == "decisions" and path.count("/") > 2:
            name = path.split("/")[2]  # events / chains
        tab.screenshot(f"layout-{width}-{name}")
        if overflow := _overflow(tab.page):
            wide[path] = overflow
    assert wide == {}, "\n".join(f"{p}: {v}" for p, v in wide.items())
