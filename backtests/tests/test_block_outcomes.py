"""A backtest run's block outcomes and scorecard: stored with the results, listed and summarised."""

from decimal import Decimal

from .test_api import URL, finished_run

CAPPED = {"risk_per_trade": "0.01", "daily_risk_budget": "0.02", "max_cost_to_reward": None}


def test_a_runs_block_outcomes_and_scorecard(sol_candles, client_for):
    run = finished_run(
        risk=CAPPED,
        strategy={"preset": "sma_cross", "params": {"fast": 5, "slow": 15}},
        sizing={"method": "equity_fraction", "value": "1"},
    )
    client = client_for("viewer")
    results = client.get(f"{URL}/{run.pk}/results").json()["results"]
    assert "block_outcomes" not in results  # paged by its own endpoint
    card = results["block_scorecard"]
    stored = run.results["block_outcomes"]
    closed = [o for o in stored if o["status"] == "closed"]
    assert closed, "the capped run blocks entries whose shadows close"
    assert card["total"]["blocks"] == run.results["blocks"]
    assert card["total"]["closed"] == len(closed)
    pnls = [Decimal(o["pnl"]) for o in closed]
    assert Decimal(card["total"]["saved"]) == -sum(p for p in pnls if p < 0)
    assert Decimal(card["total"]["forgone"]) == sum(p for p in pnls if p > 0)

    listed = client.get(f"{URL}/{run.pk}/block-outcomes", {"limit": 1000}).json()
    assert listed["count"] == len(stored)
    assert listed["results"] == stored
    first = closed[0]
    by_reason = client.get(f"{URL}/{run.pk}/block-outcomes", {"reason": first["reason"], "status": "closed"}).json()
    assert {o["reason"] for o in by_reason["results"]} == {first["reason"]}

    summary = client.get(f"{URL}/{run.pk}/block-outcomes/summary").json()
    assert summary["total"]["closed"] == len(closed)
    assert Decimal(summary["total"]["net"]) == -sum(pnls)
    for dimension in ("by_reason", "by_reason_class", "by_rule", "by_symbol"):
        assert sum(r["closed"] for r in summary[dimension]) == len(closed)
    window = client.get(
        f"{URL}/{run.pk}/block-outcomes/summary", {"since": first["blocked_at"], "until": first["blocked_at"]}
    ).json()
    assert window["total"]["closed"] == 0
    assert client.get(f"{URL}/{run.pk}/block-outcomes/summary", {"status": "nope"}).status_code == 400
