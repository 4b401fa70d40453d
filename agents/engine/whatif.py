"""What-if on one risk rule: rerun a backtest with one limit relaxed or tightened, over a list of values,
and put each run's blocks scorecard (from the shadows) beside its equity.

The question it answers: "had ``max_trades_per_day`` been 4 instead of 2, what would the blocks it
made have been worth, and what would the equity have been?" Plain engine code: the caller (a
management command, a task) brings the candles.
"""

from __future__ import annotations

import dataclasses

from .errors import ConfigError
from .risk import RiskLimits
from .runner import run_backtest

__all__ = ["sweep_limit"]


def _row(value, result) -> dict:
    closed = [d.outcome for d in result.block_outcomes if d.outcome.status == "closed"]
    saved = sum(-o.pnl for o in closed if o.pnl < 0)
    forgone = sum(o.pnl for o in closed if o.pnl > 0)
    return {
        "value": value,
        "final_equity": result.final_equity,
        "return_pct": (result.final_equity / result.initial_cash - 1.0) * 100.0,
        "trades": len(result.trades),
        "blocks": sum(1 for d in result.decisions if d.kind == "block"),
        "shadows_closed": len(closed),
        "saved": saved,
        "forgone": forgone,
        "net": saved - forgone,
        "hit_rate": sum(1 for o in closed if o.pnl < 0) / len(closed) if closed else None,
    }


def sweep_limit(plan, bars, limits: RiskLimits, field: str, values, **backtest) -> dict:
    """One backtest with ``limits`` as given (the baseline) and one per value of ``field``.

    Returns ``{"field", "baseline", "runs"}``; each run carries its equity and scorecard and, under
    ``change``, their difference from the baseline (``equity``, ``net``, ``blocks``)."""
    names = {f.name for f in dataclasses.fields(RiskLimits)}
    if field not in names:
        raise ConfigError({"field": f"no risk limit {field!r}: one of {', '.join(sorted(names))}"})
    values = list(values)
    if not values:
        raise ConfigError({"values": "give at least one value"})
    baseline = _row(getattr(limits, field), run_backtest(plan, bars, limits, **backtest))
    runs = []
    for value in values:
        row = _row(value, run_backtest(plan, bars, dataclasses.replace(limits, **{field: value}), **backtest))
        row["change"] = {
            "equity": row["final_equity"] - baseline["final_equity"],
            "net": row["net"] - baseline["net"],
            "blocks": row["blocks"] - baseline["blocks"],
        }
        runs.append(row)
    return {"field": field, "baseline": baseline, "runs": runs}
