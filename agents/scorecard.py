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

__all__ = ["DIMENSIONS", "as_json", "marginals", "outcome_groups", "rollup", "rollup_marginals"]

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


def marginals(groups: Iterable[dict], block_counts: Iterable[dict]) -> list[dict]:
    """Groups and block counts (as :func:`rollup` takes them) as rows per (dimension, key), the form
    the hourly and daily tallies store: ``dimension``, ``key``, ``blocks``, ``closed``, ``hits``,
    ``saved``, ``forgone``."""
    per: dict[tuple[str, str], dict] = {}
    for g in groups:
        for d in DIMENSIONS:
            acc = per.setdefault((d, g[d] or ""), _empty())
            acc["closed"] += g["closed"] or 0
            acc["hits"] += g["hits"] or 0
            acc["saved"] += Decimal(g["saved"] or ZERO)
            acc["forgone"] += Decimal(g["forgone"] or ZERO)
    for b in block_counts:
        for d in ("reason", "reason_class", "symbol"):  # a block records no rule
            per.setdefault((d, b[d] or ""), _empty())["blocks"] += b["blocks"]
    return [{"dimension": d, "key": key, **acc} for (d, key), acc in per.items()]


def rollup_marginals(rows: Iterable[dict]) -> dict:
    """The scorecard from rows per (dimension, key), repeated keys added up. The total is the sum of
    the reason-class rows: every block and every outcome has exactly one class."""
    per: dict[str, dict[str, dict]] = {d: {} for d in DIMENSIONS}
    total = _empty()
    for row in rows:
        acc = per[row["dimension"]].setdefault(row["key"] or "", _empty())
        for name in ("blocks", "closed", "hits"):
            acc[name] += row[name] or 0
        for name in ("saved", "forgone"):
            acc[name] += Decimal(row[name] or ZERO)
    for acc in per["reason_class"].values():
        for name in total:
            total[name] += acc[name]

    def ranked(d: str) -> list[dict]:
        rows = [_finish(key, acc, blocks=d != "rule") for key, acc in per[d].items()]
        return sorted(rows, key=lambda r: (-(r["blocks"] or 0), -r["closed"], r["key"]))

    return {"total": _finish(None, total), **{f"by_{d}": ranked(d) for d in DIMENSIONS}}


def rollup(groups: Iterable[dict], block_counts: Iterable[dict]) -> dict:
    """``groups``: dicts with the four dimensions and ``closed``, ``hits``, ``saved``, ``forgone``;
    ``block_counts``: dicts with ``reason``, ``reason_class``, ``symbol`` and ``blocks``."""
    return rollup_marginals(marginals(groups, block_counts))


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
