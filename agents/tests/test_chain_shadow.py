"""A block's decision path says what the blocked trade would have done ("had this trade gone
through"), from its shadow: closed (the BlockOutcome read model) or still open (marked at the
engine's latest close); nothing for a block without a shadow. The API's chain and the page show
the same numbers, formatted by events.formatting."""

import pickle
import re
from html import unescape

import pytest

from agents.models import EngineCheckpoint, StrategyPlan

from .shadows import block_with_shadow
from .test_block_outcomes import capped  # noqa: F401 - fixture
from .test_live_chain import _feed, _fresh_engines, planned  # noqa: F401 - fixtures

EXPECTED = {
    "side": "long",
    "entry": "143.09",
    "exit": "139.20",
    "exit_reason": "stop",
    "pnl": "-14.41 USDT",
    "pnl_pct": "-2.91 %",
    "fees": "0.98 USDT",
    "holding": "3 h",
    "mae": "13.60 USDT (2.75 %)",
    "qty": "3.457",
    "marked_at": None,
}


@pytest.fixture
def page_viewer(client, users):
    client.force_login(users["viewer"])
    return client


def _page_numbers(html: str) -> dict[str, str]:
    section = re.search(r'<section class="card shadow-outcome" id="shadow".*?</section>', html, re.S).group(0)
    return {k: unescape(v).strip() for k, v in re.findall(r'<dd[^>]*data-key="(\w+)">([^<]*)</dd>', section)}


def test_a_closed_shadow_is_on_the_blocks_chain_in_the_api_and_the_page_alike(sol, client_for, page_viewer):
    block, outcome = block_with_shadow()
    viewer = client_for("viewer")
    shadow = viewer.get(f"/api/v1/events/{block.event_id}/chain").data["sections"]["shadow"]
    assert shadow["status"] == "closed"
    assert shadow["outcome_event_id"] == str(outcome.event_id)
    assert shadow["display"] == EXPECTED
    assert shadow["pnl"] == "-14.408561240000000000"  # the API keeps the exact decimal
    assert shadow["entry_price"] == "143.089324675527880000"
    assert shadow["holding_s"] == 10800
    assert shadow["summary"] == (
        "Had this trade gone through: long 3.457 SOL-USDT from 143.09 to 139.20 (stop): -14.41 USDT (-2.91 %) "
        "after 0.98 USDT fees, held 3 h, worst 13.60 USDT (2.75 %) against"
    )

    html = page_viewer.get(f"/decisions/events/{block.event_id}/").content.decode()
    numbers = _page_numbers(html)
    assert numbers.pop("side") == "long 3.457"
    assert numbers == {k: v for k, v in EXPECTED.items() if k not in ("side", "qty", "marked_at")}
    assert "Had this trade gone through: stop, -14.41 USDT</h2>" in html

    # the outcome's own chain is about the same block
    from_outcome = viewer.get(f"/api/v1/events/{outcome.event_id}/chain").data["sections"]["shadow"]
    assert from_outcome == shadow


def test_a_block_without_a_shadow_shows_no_section(sol, client_for, page_viewer):
    block, _ = block_with_shadow(closed=False)
    viewer = client_for("viewer")
    assert viewer.get(f"/api/v1/events/{block.event_id}/chain").data["sections"] == {}
    html = page_viewer.get(f"/decisions/events/{block.event_id}/").content.decode()
    assert 'id="shadow"' not in html
    assert "Had this trade gone through" not in html


@pytest.mark.slow
def test_an_open_shadow_is_still_open_marked_at_the_latest_close(capped, sol_candles, client_for, page_viewer):  # noqa: F811
    plan = StrategyPlan.objects.get(active=True)
    held = []
    for candle in sol_candles[200:700]:  # up to the first candle after which a shadow is held
        _feed([candle])
        engine, _ = pickle.loads(EngineCheckpoint.objects.get(plan_event_id=plan.event_id).state)  # noqa: S301
        held = [d for d in engine.block_outcomes if d.outcome.status == "open" and d.outcome.exit_reason == "open"]
        if held:
            break
    assert held, "a filled shadow is held at some point of 500 capped candles"
    viewer = client_for("viewer")
    row = next(r for r in viewer.get("/api/v1/live/block-outcomes/open").data["results"] if r["exit_reason"] == "open")
    path = viewer.get(f"/api/v1/events/{row['block_event_id']}/chain").data
    shadow = path["sections"]["shadow"]
    assert shadow["status"] == "open"
    assert shadow["outcome_event_id"] is None
    assert shadow["exit_price"] == row["exit_price"]  # the mark
    mark = shadow["display"]["exit"]
    assert shadow["display"]["exit_reason"] == "still open"
    assert shadow["display"]["marked_at"].endswith(" UTC")
    assert shadow["summary"].startswith(f"Had this trade gone through: still open, marked at {mark} (")

    html = page_viewer.get(f"/decisions/events/{row['block_event_id']}/").content.decode()
    assert f"Had this trade gone through: still open, marked at {mark}</h2>" in html
    numbers = _page_numbers(html)
    assert numbers["pnl"] == shadow["display"]["pnl"]
    assert numbers["marked_at"] == shadow["display"]["marked_at"]
