"""The scorecard of blocks: what the rules that refused trades saved or cost, from their shadows.

One roll-up shared by the live read model (rows already grouped by SQL) and a backtest's results
(one row per outcome): per reason, reason class, rule and symbol, and in total:

- ``blocks``: trades refused (``None`` per rule: a block records no rule, only its shadow does);
- ``closed``: shadows that closed; ``hits``: those that lost (the block was right);
- ``saved``: the losses avoided (sum of the losing shadows' P&L, as a positive amount);
- ``forgone``: the gains missed (sum of the winning shadows' P&L);
- ``net`` = ``saved - forgone``: positive when the blocks were worth it; ``hit_rate`` = hits / closed.

Plain Python, no Django: amounts are Decimals in, Decimals out.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

__all__ = ["DIMENSIONS", "as_json", "outcome_groups", "rollup"]

ZERO = Decimal(0)
DIMENSIONS = ("reason", "reason_class", "rule", "symbol")


def _empty() -> dict:
    return {"blocks": 0, "closed": 0, "hits": 0, "saved": ZERO, "forgone": ZERO}


def _finish(key: str | None, acc: dict, *, blocks: bool = True) -> dict:
    closed = acc["closed"]
    out = {
        "blocks": acc["blocks"] if blocks else None,
        "closed": closed,
        "hits": acc["hits"],
        "saved": acc["saved"],
        "forgone": acc["forgone"],
        "net": acc["saved"] - acc["forgone"],
        "hit_rate": (Decimal(acc["hits"]) / Decimal(closed)).quantize(Decimal("0.0001")) if closed else None,
    }
    if key is not None:
        out = {"key": key, **out}
    return out


def rollup(groups: Iterable[dict], block_counts: Iterable[dict]) -> dict:
    """``groups``: dicts with the four dimensions and ``closed``, ``hits``, ``saved``, ``forgone``;
    ``block_counts``: dicts with ``reason``, ``reason_class``, ``symbol`` and ``blocks``."""
    per: dict[str, dict[str, dict]] = {d: {} for d in DIMENSIONS}
    total = _empty()
    for g in groups:
        for name in ("closed", "hits", "saved", "forgone"):
            value = g[name] or (ZERO if name in ("saved", "forgone") else 0)
            if name in ("saved", "forgone"):
                value = Decimal(value)
            total[name] += value
            for d in DIMENSIONS:
                per[d].setdefault(g[d] or "", _empty())[name] += value
    for b in block_counts:
        total["blocks"] += b["blocks"]
        for d in ("reason", "reason_class", "symbol"):
            per[d].setdefault(b[d] or "", _empty())["blocks"] += b["blocks"]

    def ranked(d: str) -> list[dict]:
        rows = [_finish(key, acc, blocks=d != "rule") for key, acc in per[d].items()]
        return sorted(rows, key=lambda r: (-(r["blocks"] or 0), -r["closed"], r["key"]))

    return {"total": _finish(None, total), **{f"by_{d}": ranked(d) for d in DIMENSIONS}}


def outcome_groups(outcomes: Iterable[dict]) -> list[dict]:
    """Outcome payloads (``ShadowOutcome.payload()`` plus ``symbol``), one group each: a backtest's
    input to :func:`rollup`. Open shadows are left out (not closed, nothing saved or forgone yet)."""
    rows = []
    for o in outcomes:
        if o.get("status", "closed") != "closed":
            continue
        pnl = Decimal(o["pnl"])
        rows.append(
            {
                "reason": o["reason"],
                "reason_class": o["reason_class"],
                "rule": o.get("rule", ""),
                "symbol": o["symbol"],
                "closed": 1,
                "hits": 1 if pnl < 0 else 0,
                "saved": -pnl if pnl < 0 else ZERO,
                "forgone": pnl if pnl > 0 else ZERO,
            }
        )
    return rows


def as_json(card: dict) -> dict:
    """A :func:`rollup` with its Decimals as strings (money never goes through a float)."""

    def row(r: dict) -> dict:
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in r.items()}

    return {k: row(v) if isinstance(v, dict) else [row(r) for r in v] for k, v in card.items()}
