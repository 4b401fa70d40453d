"""Event types the agents app writes, registered at ``AgentsConfig.ready()`` through the registry."""

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field

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


def register_all() -> None:
    for event_type in (
        EventType("runtime_changed", RuntimeChangedPayload, description="Mode, kill switch or limits changed."),
        EventType("risk_claimed", RiskClaimedPayload),
        EventType("risk_released", RiskReleasedPayload),
        EventType("marks_updated", MarksPayload),
        EventType("positions_snapshotted", PositionsSnapshottedPayload),
        EventType("plan_retired", PlanRetiredPayload),
        EventType("agent_run", AgentRunPayload),
        EventType(
            "books_check_failed",
            BooksCheckFailedPayload,
            description="check_books found violations of the books' invariants (claims, fills, positions, ledger).",
        ),
    ):
        register(event_type)
