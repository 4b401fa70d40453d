"""The portfolio of one run at any bar: a stored snapshot plus the fills since (no replay of the run).

Pure Python. :func:`apply_fill` does exactly the float operations of the engine's state machine
(``agents.engine.machine``) in the same order, so a state rebuilt from a snapshot has the engine's
cash to the last bit; the equity at a bar is ``cash + signed qty * close``, the formula of the
runner's equity curve.
"""

from __future__ import annotations

from typing import NamedTuple


class Fill(NamedTuple):
    bar: int
    ts: int
    intent: str  # entry | exit
    side: str  # position side: long | short
    qty: float
    price: float
    fee: float
    pnl: float = 0.0  # exits: the round trip's net P&L


def empty(initial_cash: float) -> dict:
    return {
        "cash": float(initial_cash),
        "side": None,
        "qty": 0.0,
        "entry_price": None,
        "entry_fee": 0.0,
        "entry_ts": None,
        "realized_pnl": 0.0,
        "fees_paid": 0.0,
        "trades_closed": 0,
    }


def apply_fill(state: dict, fill: Fill) -> dict:
    """The state after ``fill`` (a new dict)."""
    state = dict(state)
    if fill.intent == "entry":
        notional = fill.price * fill.qty
        cash_delta = -(notional + fill.fee) if fill.side == "long" else notional - fill.fee
        state["cash"] += cash_delta
        state["fees_paid"] += fill.fee
        state.update(side=fill.side, qty=fill.qty, entry_price=fill.price, entry_fee=fill.fee, entry_ts=fill.ts)
        return state
    if fill.side == "long":
        cash_delta = fill.price * fill.qty - fill.fee
    else:
        cash_delta = -(fill.price * fill.qty + fill.fee)
    state["cash"] += cash_delta
    state["fees_paid"] += fill.fee
    state["realized_pnl"] += fill.pnl
    state["trades_closed"] += 1
    state.update(side=None, qty=0.0, entry_price=None, entry_fee=0.0, entry_ts=None)
    return state


def signed_qty(state: dict) -> float:
    if state["side"] is None:
        return 0.0
    return state["qty"] if state["side"] == "long" else -state["qty"]


def marked(state: dict, close: float) -> dict:
    """Equity and unrealised P&L at ``close`` (the same formulas as the engine)."""
    qty = signed_qty(state)
    equity = state["cash"] + qty * close
    unrealized = 0.0
    if state["side"] == "long":
        unrealized = (close - state["entry_price"]) * state["qty"]
    elif state["side"] == "short":
        unrealized = (state["entry_price"] - close) * state["qty"]
    return {**state, "mark": close, "equity": equity, "unrealized_pnl": unrealized}
