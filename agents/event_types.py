"""Event types the agents app writes, registered at ``AgentsConfig.ready()`` through the registry."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field

from events import formatting
from events.types import (
    BoundedDecimal,
    Count,
    EventType,
    NonNegativeDecimal,
    Payload,
    PositiveDecimal,
    Symbol,
    register,
)

Identifier = Annotated[str, Field(min_length=1, max_length=64)]
BOOKS_ALERT_MAX_VIOLATIONS = 100  # an alert names this many; check_books lists them all


class RuntimeChangedPayload(Payload):
    """Each changed field with its old and new value (as strings)."""

    changes: dict[str, dict[Literal["old", "new"], Any]] = Field(min_length=1)
    reason: Annotated[str, Field(max_length=500)] | None = None


class RiskClaimedPayload(Payload):
    allocation_id: Identifier
    day: date
    symbol: Symbol
    amount: PositiveDecimal
    budget: PositiveDecimal
    order_id: Identifier | None = None


class RiskReleasedPayload(Payload):
    allocation_id: Identifier
    status: Literal["used", "released", "expired"]


class MarksPayload(Payload):
    """Latest prices, used to mark open positions."""

    prices: dict[Symbol, PositiveDecimal] = Field(min_length=1)


class SnapshotPosition(Payload):
    symbol: Symbol
    qty: BoundedDecimal
    avg_entry_price: NonNegativeDecimal
    mark_price: NonNegativeDecimal
    unrealized_pnl: BoundedDecimal
    realized_pnl: BoundedDecimal


class PositionsSnapshottedPayload(Payload):
    positions: list[SnapshotPosition]


class PlanRetiredPayload(Payload):
    plan_id: Identifier
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class AgentRunPayload(Payload):
    agent: Literal["planner", "judge", "execution", "broker", "snapshot", "books"]
    status: Literal["ok", "error"]
    duration_ms: Count
    error: Annotated[str, Field(max_length=2000)] | None = None


class BookViolationPayload(Payload):
    invariant: Identifier
    object_id: Annotated[str, Field(min_length=1, max_length=200)]
    detail: dict[str, Any] = Field(default_factory=dict)


class BooksCheckFailedPayload(Payload):
    """The books broke an invariant: the first violations (all of them up to the cap) and how many."""

    violations: list[BookViolationPayload] = Field(min_length=1, max_length=BOOKS_ALERT_MAX_VIOLATIONS)
    total: Annotated[int, Field(ge=1)]
    by_invariant: dict[str, Annotated[int, Field(ge=1)]]
    summary: Annotated[str, Field(max_length=2000)]


def _runtime_summary(p: dict) -> str:
    changes = ", ".join(f"{field} {c.get('old')} → {c.get('new')}" for field, c in sorted(p["changes"].items()))
    return f"Runtime: {changes}" + (f" ({p['reason']})" if p.get("reason") else "")


def _claimed_summary(p: dict) -> str:
    quote = formatting.symbol_quote(p["symbol"])
    return (
        f"Risk claimed {formatting.money(p['amount'], quote)} {quote} for {p['symbol']} "
        f"of {formatting.money(p['budget'], quote)} ({p['allocation_id']})"
    )


def _marks_summary(p: dict) -> str:
    return "Marks " + ", ".join(f"{s} {formatting.price(v, s)}" for s, v in sorted(p["prices"].items()))


def _block_outcome_summary(p: dict) -> str:
    quote = formatting.symbol_quote(p["symbol"])
    return (
        f"Had the blocked {p['symbol']} trade ({p['reason']}) gone through: {p['exit_reason']} "
        f"{formatting.money(p['pnl'], quote, sign=True)} {quote}"
    )


def _agent_run_summary(p: dict) -> str:
    text = f"Agent {p['agent']} {p['status']} in {formatting.number(p['duration_ms'])} ms"
    return text + (f": {p['error']}" if p.get("error") else "")


class BlockOutcomePayload(Payload):
    """A blocked trade's shadow, closed: what taking it would have done (engine numbers as decimals)."""

    block_event_id: UUID
    symbol: Symbol
    plan_id: str | None = None
    reason: Identifier
    reason_class: Literal["infra", "quality_gate", "risk_valid"]
    rule: Annotated[str, Field(max_length=500)] = ""
    position_side: Literal["long", "short"]
    status: Literal["closed"] = "closed"
    exit_reason: Literal["stop", "target", "exit"]
    qty: PositiveDecimal
    blocked_at: datetime
    entry_at: datetime
    entry_price: PositiveDecimal
    exit_at: datetime
    exit_price: PositiveDecimal
    fees: NonNegativeDecimal
    pnl: Decimal
    pnl_pct: Decimal
    mae: NonNegativeDecimal
    mae_pct: NonNegativeDecimal
    holding_s: Annotated[int, Field(ge=0)]
    stop: Decimal | None = None
    target: Decimal | None = None


def register_all() -> None:
    for event_type in (
        EventType(
            "runtime_changed",
            RuntimeChangedPayload,
            description="Mode, kill switch or limits changed.",
            summary=_runtime_summary,
        ),
        EventType("risk_claimed", RiskClaimedPayload, summary=_claimed_summary),
        EventType("risk_released", RiskReleasedPayload, summary=lambda p: f"Risk {p['status']}: {p['allocation_id']}"),
        EventType("marks_updated", MarksPayload, in_chain=False, summary=_marks_summary),
        EventType(
            "positions_snapshotted",
            PositionsSnapshottedPayload,
            in_chain=False,
            summary=lambda p: f"Positions snapshotted: {len(p['positions'])}",
        ),
        EventType("plan_retired", PlanRetiredPayload, summary=lambda p: f"Plan {p['plan_id']} retired: {p['reason']}"),
        EventType(
            "block_outcome",
            BlockOutcomePayload,
            description="A blocked trade's shadow closed: what taking it would have done (caused by trade_blocked).",
            summary=_block_outcome_summary,
        ),
        EventType("agent_run", AgentRunPayload, in_chain=False, summary=_agent_run_summary),
        EventType(
            "books_check_failed",
            BooksCheckFailedPayload,
            description="check_books found violations of the books' invariants (claims, fills, positions, ledger).",
            summary=lambda p: f"Books check failed: {p['total']} violations ({p['summary']})",
        ),
    ):
        register(event_type)
