"""The portfolio of one run at any bar: a stored snapshot plus the fills since (no replay of the run).

Pure Python. :func:`apply_fill` does exactly the float operations of the engine's state machine
(``agents.engine.machine``) in the same order, so a state rebuilt from a snapshot has the engine's
cash to the last bit; :func:`marked` values the positions the way the runner's equity curve does
(cash, then each open position's ``signed qty * close`` added in the plan's symbol order).
"""

from __future__ import annotations

from typing import NamedTuple


class Fill(NamedTuple):
    bar: int  # index in the run's curve
    ts: int
    symbol: str
    intent: str  # entry | exit
    side: str  # position side: long | short
    qty: float
    price: float
    fee: float
    pnl: float = 0.0  # exits: the round trip's net P&L


def empty(initial_cash: float) -> dict:
    return {"cash": float(initial_cash), "positions": {}, "realized_pnl": 0.0, "fees_paid": 0.0, "trades_closed": 0}


def apply_fill(state: dict, fill: Fill) -> dict:
    """The state after ``fill`` (a new dict; the snapshot it came from is not changed)."""
    state = {**state, "positions": dict(state["positions"])}
    _apply(state, fill)
    return state


def states_before(initial_cash: float, fills: list[Fill], bars: list[int]) -> tuple[list[dict], dict]:
    """The state before each of ``bars`` (ascending curve indices: every fill on an earlier bar applied),
    and the state after all ``fills``; the same float operations, in the same order, as a chain of
    :func:`apply_fill`, with one state changed in place and copied only where it is kept."""
    state = empty(initial_cash)
    fills_n = len(fills)
    kept = []
    k = 0
    for bar in bars:
        while k < fills_n and fills[k].bar < bar:
            _apply(state, fills[k])
            k += 1
        kept.append({**state, "positions": dict(state["positions"])})
    while k < fills_n:
        _apply(state, fills[k])
        k += 1
    return kept, state


def _apply(state: dict, fill: Fill) -> None:
    # A position's dict is replaced on entry and dropped on exit, never changed: a kept copy of
    # ``positions`` (the dict of them) is enough for a snapshot.
    if fill.intent == "entry":
        notional = fill.price * fill.qty
        cash_delta = -(notional + fill.fee) if fill.side == "long" else notional - fill.fee
        state["cash"] += cash_delta
        state["fees_paid"] += fill.fee
        state["positions"][fill.symbol] = {
            "side": fill.side,
            "qty": fill.qty,
            "entry_price": fill.price,
            "entry_fee": fill.fee,
            "entry_ts": fill.ts,
        }
        return
    if fill.side == "long":
        cash_delta = fill.price * fill.qty - fill.fee
    else:
        cash_delta = -(fill.price * fill.qty + fill.fee)
    state["cash"] += cash_delta
    state["fees_paid"] += fill.fee
    state["realized_pnl"] += fill.pnl
    state["trades_closed"] += 1
    state["positions"].pop(fill.symbol, None)


def marked(state: dict, closes: dict[str, float], symbols: list[str]) -> dict:
    """Equity and each position's mark and unrealised P&L at ``closes`` (the runner's formula and order)."""
    equity = state["cash"]
    positions = []
    for symbol in symbols:
        pos = state["positions"].get(symbol)
        if pos is None:
            continue
        close = closes[symbol]
        signed = pos["qty"] if pos["side"] == "long" else -pos["qty"]
        if signed != 0.0:
            equity = equity + signed * close
        if pos["side"] == "long":
            unrealized = (close - pos["entry_price"]) * pos["qty"]
        else:
            unrealized = (pos["entry_price"] - close) * pos["qty"]
        positions.append({"symbol": symbol, **pos, "mark": close, "unrealized_pnl": unrealized})
    return {**state, "positions": positions, "equity": equity}
