"""Results as a trader reads them: one fixed order, ones as percentages, money to the quote's
precision, ratios to 2 decimals, durations in days and hours. Used by the dashboard's run page,
list and compare; the API keeps the raw numbers (and the same order in ``METRICS``)."""

from __future__ import annotations

from events import formatting

# (key, label, kind): the order the run page and compare show them in (returns first, then risk, then trades)
METRICS: tuple[tuple[str, str, str], ...] = (
    ("total_return", "Total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("final_equity", "Final equity", "money"),
    ("initial_cash", "Initial cash", "money"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("max_drawdown_duration_s", "Longest drawdown", "duration"),
    ("sharpe", "Sharpe", "ratio"),
    ("sortino", "Sortino", "ratio"),
    ("calmar", "Calmar", "ratio"),
    ("volatility", "Volatility (yearly)", "pct"),
    ("trades", "Trades", "int"),
    ("win_rate", "Win rate", "pct"),
    ("profit_factor", "Profit factor", "ratio"),
    ("expectancy", "Expectancy (per trade)", "money"),
    ("avg_trade_return", "Average trade return", "pct"),
    ("best_trade", "Best trade", "money"),
    ("best_trade_return", "Best trade return", "pct"),
    ("worst_trade", "Worst trade", "money"),
    ("worst_trade_return", "Worst trade return", "pct"),
    ("gross_profit", "Gross profit", "money"),
    ("gross_loss", "Gross loss", "money"),
    ("fees", "Fees", "money"),
    ("realized_pnl", "Realized P&L", "money"),
    ("final_cash", "Final cash", "money"),
    ("exposure", "Exposure (time in a position)", "pct"),
    ("blocks", "Blocked entries", "int"),
    ("candles", "Candles", "int"),
    ("span_days", "Span", "days"),
)
LABELS = {key: label for key, label, _ in METRICS}
KINDS = {key: kind for key, _, kind in METRICS}
# The list and compare show these first (the list shows only these).
HEADLINE = ("total_return", "trades", "max_drawdown", "sharpe")


def fmt(kind: str, value, quote: str | None = None) -> str:
    """One value as text, by the project's one formatting rule (events.formatting): ``pct`` 0.1758 ->
    ``17.58 %``, ``money`` to the quote currency's precision, ``ratio`` to 2 dp, ``int`` grouped."""
    if kind == "pct":
        return formatting.pct(value)
    if kind == "money":
        return formatting.money(value, quote or "")
    if kind == "ratio":
        return formatting.number(value, 2)
    if kind == "int":
        return formatting.number(value)
    if kind == "duration":
        return formatting.duration(value)
    if kind == "days":
        text = formatting.number(value, 1)
        return text if text == "—" else f"{text} days"
    return str(value)


def metric_rows(results: dict | None, *, quote: str | None = None, keys=None) -> list[dict]:
    """``[{key, label, text, value, sign}]`` in :data:`METRICS` order; ``sign`` is +1/-1/0 for returns and P&L."""
    results = results or {}
    quote = quote or results.get("quote")
    rows = []
    for key, label, kind in METRICS:
        if keys is not None and key not in keys:
            continue
        if key not in results:
            continue
        value = results[key]
        number = formatting.parse_decimal(None if isinstance(value, bool) else value)
        signed = key in ("total_return", "cagr", "expectancy", "realized_pnl", "avg_trade_return")
        sign = (1 if number > 0 else -1 if number < 0 else 0) if signed and number is not None else 0
        rows.append({"key": key, "label": label, "text": fmt(kind, value, quote), "value": value, "sign": sign})
    return rows


def summary_tables(results: dict | None, *, quote: str | None = None) -> dict:
    """The FreqUI-like summary, formatted: per symbol, per exit reason, best/worst trade, blocks by reason."""
    summary = (results or {}).get("summary") or {}
    quote = quote or (results or {}).get("quote")

    def group(rows):
        return [
            {
                "key": r["key"],
                "trades": r["trades"],
                "wins": r["wins"],
                "losses": r["losses"],
                "win_rate": fmt("pct", r["win_rate"]),
                "pnl": fmt("money", r["pnl"], quote),
                "pnl_raw": r["pnl"],
                "return": fmt("pct", r["return"]),
                "avg_trade_return": fmt("pct", r["avg_trade_return"]),
                "avg_duration": formatting.duration(r["avg_duration_s"]),
            }
            for r in rows or []
        ]

    def trade(t):
        if not t:
            return None
        return {**t, "pnl_text": fmt("money", t["pnl"], quote), "return_text": fmt("pct", t["return"])}

    return {
        "per_symbol": group(summary.get("per_symbol")),
        "per_exit_reason": group(summary.get("per_exit_reason")),
        "best_trade": trade(summary.get("best_trade")),
        "worst_trade": trade(summary.get("worst_trade")),
        "avg_duration": formatting.duration(summary.get("avg_duration_s")),
        "win_rate": fmt("pct", summary.get("win_rate")),
        "blocks_by_reason": summary.get("blocks_by_reason") or [],
    }
