"""The registry of event types: each type has a payload schema and a schema version.

Schemas are pydantic models (plain Python, no ORM): validation must cost microseconds, since bulk
ingest validates every event. Higher apps register their own types at ``AppConfig.ready()``.
"""

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import formatting

Symbol = Annotated[str, Field(min_length=1, max_length=32)]
Side = Literal["buy", "sell"]
# Every number is bounded by the column it is projected into: numeric(36, 18) holds less than
# 10^18 in magnitude, a PositiveIntegerField at most 2^31 - 1. Past that Postgres raised a 500.
DECIMAL_LIMIT = Decimal(10) ** 18
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
BoundedDecimal = Annotated[Decimal, Field(gt=-DECIMAL_LIMIT, lt=DECIMAL_LIMIT)]
NonNegativeDecimal = Annotated[Decimal, Field(ge=0, lt=DECIMAL_LIMIT)]
PositiveDecimal = Annotated[Decimal, Field(gt=0, lt=DECIMAL_LIMIT)]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
Id64 = Annotated[int, Field(ge=0, le=INT64_MAX)]


class Payload(BaseModel):
    """Base of every payload schema: unknown fields are refused so that typos do not pass."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ClientCheck = Callable[[Mapping[str, Any]], dict[str, list[str]]]


@dataclass(frozen=True)
class EventType:
    """``client_postable``: whether a client may post it through ``POST /api/v1/events``. Every
    other type is a fact that only services write (a ``fill`` moves positions, cash and the
    ledger). ``client_check`` refuses the client posts of a postable type that are not meant for
    clients (returns field errors, empty when fine)."""

    name: str
    schema: type[Payload]
    version: int = 1
    description: str = ""
    in_chain: bool = True
    """False for heartbeats and bookkeeping (agent runs, marks, snapshots): they share a plan's
    correlation id but explain no decision, so chains leave them out."""
    summary: Callable[[dict[str, Any]], str] | None = None
    """One line a person reads, from the (validated) payload, numbers through events.formatting.
    Sent in every event's JSON as ``summary``: pages and scripts keep no copy of their own."""
    client_postable: bool = False
    client_check: ClientCheck | None = None


class UnknownEventType(KeyError):
    pass


class PayloadInvalid(ValueError):
    """Carries DRF-style field errors, e.g. ``{"qty": ["Input should be greater than 0"]}``."""

    def __init__(self, errors: dict[str, Any]):
        super().__init__(errors)
        self.errors = errors


_registry: dict[str, EventType] = {}


def register(event_type: EventType) -> EventType:
    existing = _registry.get(event_type.name)
    if existing is not None and existing != event_type:
        raise ValueError(f"event type {event_type.name!r} is already registered differently")
    _registry[event_type.name] = event_type
    return event_type


def get(name: str) -> EventType:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownEventType(name) from None


def names() -> list[str]:
    return sorted(_registry)


def client_names() -> list[str]:
    return sorted(name for name, event_type in _registry.items() if event_type.client_postable)


_reserved_run_ids: set[str] = set()
ReservedRunCheck = Callable[[set[str]], Mapping[str, str]]
_reserved_run_checks: list[ReservedRunCheck] = []


def reserve_run_id(run_id: str) -> None:
    """A run that only the system writes (e.g. the agents' ``live`` run): clients may not post
    events into it, or a client's ``run_control`` would flip its status on every dashboard."""
    _reserved_run_ids.add(run_id)


def reserve_run_ids(check: ReservedRunCheck) -> None:
    """Run ids that only the system writes, found by ``check(run_ids)``, which returns the
    reserved ones among them, each with why (e.g. the backtests app: its runs' ids)."""
    if check not in _reserved_run_checks:
        _reserved_run_checks.append(check)


def reserved_run_ids(run_ids: Iterable[str]) -> dict[str, str]:
    """The reserved ids among ``run_ids``, each with the reason a client may not post into it."""
    asked = {run_id for run_id in run_ids if run_id}
    found = dict.fromkeys(asked & _reserved_run_ids, "")
    for check in _reserved_run_checks:
        if rest := asked - found.keys():
            found.update(check(rest))
    return found


def run_id_reserved(run_id: str) -> bool:
    return run_id in reserved_run_ids([run_id])


def summarize(name: str, payload: Any) -> str:
    """The registered summary of an event, or its payload as compact JSON (cut at 160 characters)."""
    event_type = _registry.get(name)
    if event_type is not None and event_type.summary is not None and isinstance(payload, dict):
        try:
            return event_type.summary(payload)
        except (KeyError, TypeError, ValueError, ArithmeticError):
            pass  # an old payload without a field the summary reads: show it raw rather than fail
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= 160 else text[:159] + "…"


def outside_chains() -> list[str]:
    """Types that never appear in a decision chain (see ``EventType.in_chain``)."""
    return sorted(name for name, event_type in _registry.items() if not event_type.in_chain)


def choices() -> list[tuple[str, str]]:
    return [(name, name) for name in names()]


def validate_payload(name: str, payload: Any) -> dict[str, Any]:
    """Validate and normalise a payload (decimals become strings, datetimes ISO 8601)."""
    schema = get(name).schema
    try:
        return schema.model_validate(payload).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        raise PayloadInvalid(_field_errors(exc)) from None


def _field_errors(exc: ValidationError) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "non_field_errors"
        errors.setdefault(field, []).append(error["msg"])
    return errors


# --- The seed's types ------------------------------------------------------------------------


class IntentPayload(Payload):
    action: Annotated[str, Field(min_length=1, max_length=64)]
    symbol: Symbol | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    note: Annotated[str, Field(max_length=2000)] | None = None


class PlanGeneratedPayload(Payload):
    plan_id: Annotated[str, Field(min_length=1, max_length=64)]
    version: Annotated[int, Field(ge=1, le=INT32_MAX)] = 1
    strategy: Annotated[str, Field(min_length=1, max_length=64)]
    symbols: list[Symbol] = Field(min_length=1)
    rules: dict[str, Any] = Field(default_factory=dict)
    origin: Literal["template", "llm", "operator"] = "template"
    regime: str | None = None
    fallback_reason: str | None = None


class PlanJudgedPayload(Payload):
    plan_id: Annotated[str, Field(min_length=1, max_length=64)]
    overall_score: Annotated[Decimal, Field(ge=0, le=100)]
    component_scores: dict[str, BoundedDecimal] = Field(default_factory=dict)
    recommendations: list[str] = Field(default_factory=list)


class TriggerFiredPayload(Payload):
    plan_id: Annotated[str, Field(min_length=1, max_length=64)]
    symbol: Symbol
    side: Side
    rule: Annotated[str, Field(min_length=1, max_length=500)]
    price: PositiveDecimal
    bar_open_time: datetime | None = None


BlockReasonClass = Literal["risk_valid", "quality_gate", "infra"]


class TradeBlockedPayload(Payload):
    symbol: Symbol
    side: Side
    reason: Annotated[str, Field(min_length=1, max_length=64)]
    reason_class: BlockReasonClass
    detail: dict[str, Any] = Field(default_factory=dict)
    plan_id: str | None = None
    trigger_id: UUID | None = None
    """The ``event_id`` of the ``trigger_fired`` the block stopped (also its ``causation_id``)."""
    qty: NonNegativeDecimal | None = None
    """The quantity that would have been traded (0 when sizing itself refused)."""
    price: PositiveDecimal | None = None
    """The price the trade would have been made at (the trigger's or the bar's)."""
    bar_open_time: datetime | None = None


class OrderSubmittedPayload(Payload):
    order_id: Annotated[str, Field(min_length=1, max_length=64)]
    symbol: Symbol
    side: Side
    qty: PositiveDecimal
    order_type: Literal["market", "limit"] = "market"
    limit_price: PositiveDecimal | None = None
    bar_open_time: datetime | None = None


class FillPayload(Payload):
    fill_id: Annotated[str, Field(min_length=1, max_length=64)]
    order_id: Annotated[str, Field(min_length=1, max_length=64)]
    symbol: Symbol
    side: Side
    qty: PositiveDecimal
    price: PositiveDecimal
    fee: NonNegativeDecimal = Decimal(0)
    fee_currency: str | None = None
    bar_open_time: datetime | None = None
    # An exit fill's cause as the engine names it (exit, stop, target, end_of_data): the trades
    # read model shows it as the trade's exit reason.
    exit_reason: Annotated[str, Field(min_length=1, max_length=32)] | None = None


class PositionUpdatePayload(Payload):
    symbol: Symbol
    qty: BoundedDecimal
    avg_entry_price: NonNegativeDecimal
    mark_price: NonNegativeDecimal | None = None
    realized_pnl: BoundedDecimal = Decimal(0)


class LLMCallPayload(Payload):
    model: Annotated[str, Field(min_length=1, max_length=128)]
    agent: Annotated[str, Field(min_length=1, max_length=64)]
    prompt_hash: Annotated[str, Field(min_length=1, max_length=128)]
    tokens_in: Count
    tokens_out: Count
    cost: NonNegativeDecimal
    latency_ms: Count
    outcome: Literal["ok", "invalid_answer", "error", "timeout"] = "ok"


class RunControlPayload(Payload):
    """Says what a run is doing now; the run summary's status follows the latest one."""

    action: Literal["start", "pause", "resume", "stop"]
    mode: Literal["paper", "live", "backtest"] | None = None
    reason: Annotated[str, Field(max_length=500)] | None = None


# --- Summaries: one line per type, numbers by the one formatting rule --------------------------


def _side_qty(p: dict[str, Any]) -> str:
    return f"{p['side']} {formatting.qty(p['qty'], p['symbol'])} {p['symbol']}"


def _fill_summary(p: dict[str, Any]) -> str:
    quote = formatting.symbol_quote(p["symbol"])
    fee = p.get("fee")
    fee_text = ""
    if fee not in (None, "0") and Decimal(str(fee)):
        currency = p.get("fee_currency") or quote
        fee_text = f" · fee {formatting.money(fee, currency)} {currency}".rstrip()
    reason = f" ({p['exit_reason']})" if p.get("exit_reason") else ""
    return f"Filled {_side_qty(p)} @ {formatting.price(p['price'], p['symbol'])}{fee_text}{reason}"


def _order_summary(p: dict[str, Any]) -> str:
    limit = f" @ {formatting.price(p['limit_price'], p['symbol'])}" if p.get("limit_price") else ""
    return f"Order {p['order_id']}: {p.get('order_type', 'market')} {_side_qty(p)}{limit}"


def _block_summary(p: dict[str, Any]) -> str:
    what = (
        f"{p['side']} {formatting.qty(p['qty'], p['symbol'])} {p['symbol']}"
        if p.get("qty")
        else f"{p['side']} {p['symbol']}"
    )
    at = f" @ {formatting.price(p['price'], p['symbol'])}" if p.get("price") else ""
    return f"Blocked {what}{at}: {p['reason']} ({p['reason_class']})"


def _intent_summary(p: dict[str, Any]) -> str:
    text = f"Intent {p['action']}"
    if p.get("symbol"):
        text += f" {p['symbol']}"
    if p.get("note"):
        text += f": {p['note']}"
    return text


def _llm_summary(p: dict[str, Any]) -> str:
    return (
        f"LLM {p['model']} for {p['agent']}: {p['tokens_in']:,}→{p['tokens_out']:,} tokens, "
        f"{formatting.money(p['cost'], 'USD')} USD, {p['latency_ms']:,} ms, {p.get('outcome', 'ok')}"
    )


SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "intent": _intent_summary,
    "plan_generated": lambda p: (
        f"Plan {p['plan_id']} v{p.get('version', 1)} {p['strategy']} on {', '.join(p.get('symbols', []))}"
    ),
    "plan_judged": lambda p: f"Plan {p['plan_id']} scored {formatting.number(p['overall_score'], 1)}",
    "trigger_fired": lambda p: (
        f"Trigger {p['side']} {p['symbol']} @ {formatting.price(p['price'], p['symbol'])}: {p['rule']}"
    ),
    "trade_blocked": _block_summary,
    "order_submitted": _order_summary,
    "fill": _fill_summary,
    "position_update": lambda p: (
        f"Position {p['symbol']} {formatting.qty(p['qty'], p['symbol'])} "
        f"@ {formatting.price(p['avg_entry_price'], p['symbol'])}"
    ),
    "llm_call": _llm_summary,
    "run_control": lambda p: f"Run {p['action']}" + (f" ({p['mode']})" if p.get("mode") else ""),
}


def _client_intent_check(payload: Mapping[str, Any]) -> dict[str, list[str]]:
    if isinstance(payload, Mapping) and payload.get("action") != "note":
        return {"action": ["Clients post only notes here; actions go through POST /api/v1/agents/intents."]}
    return {}


for _event_type in (
    EventType(
        "intent",
        IntentPayload,
        description="An operator's intent; first link of a chain. Clients may post notes (action 'note').",
        summary=_intent_summary,
        client_postable=True,
        client_check=_client_intent_check,
    ),
    EventType("plan_generated", PlanGeneratedPayload, summary=SUMMARIES["plan_generated"]),
    EventType("plan_judged", PlanJudgedPayload, summary=SUMMARIES["plan_judged"]),
    EventType("trigger_fired", TriggerFiredPayload, summary=SUMMARIES["trigger_fired"]),
    EventType("trade_blocked", TradeBlockedPayload, summary=_block_summary),
    EventType("order_submitted", OrderSubmittedPayload, summary=_order_summary),
    EventType("fill", FillPayload, summary=_fill_summary),
    EventType("position_update", PositionUpdatePayload, summary=SUMMARIES["position_update"]),
    EventType(
        "llm_call",
        LLMCallPayload,
        description="An LLM call (an external agent may report its own).",
        summary=_llm_summary,
        client_postable=True,
    ),
    EventType(
        "run_control",
        RunControlPayload,
        description="A run's control state (an external agent's own run).",
        summary=SUMMARIES["run_control"],
        client_postable=True,
    ),
):
    register(_event_type)
