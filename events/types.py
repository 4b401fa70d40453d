"""The registry of event types: each type has a payload schema and a schema version.

Schemas are pydantic models (plain Python, no ORM): validation must cost microseconds, since bulk
ingest validates every event. Higher apps register their own types at ``AppConfig.ready()``.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


def reserve_run_id(run_id: str) -> None:
    """A run that only the system writes (e.g. the agents' ``live`` run): clients may not post
    events into it, or a client's ``run_control`` would flip its status on every dashboard."""
    _reserved_run_ids.add(run_id)


def run_id_reserved(run_id: str) -> bool:
    return run_id in _reserved_run_ids


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


def _client_intent_check(payload: Mapping[str, Any]) -> dict[str, list[str]]:
    if isinstance(payload, Mapping) and payload.get("action") != "note":
        return {"action": ["Clients post only notes here; actions go through POST /api/v1/agents/intents."]}
    return {}


for _event_type in (
    EventType(
        "intent",
        IntentPayload,
        description="An operator's intent; first link of a chain. Clients may post notes (action 'note').",
        client_postable=True,
        client_check=_client_intent_check,
    ),
    EventType("plan_generated", PlanGeneratedPayload),
    EventType("plan_judged", PlanJudgedPayload),
    EventType("trigger_fired", TriggerFiredPayload),
    EventType("trade_blocked", TradeBlockedPayload),
    EventType("order_submitted", OrderSubmittedPayload),
    EventType("fill", FillPayload),
    EventType("position_update", PositionUpdatePayload),
    EventType(
        "llm_call",
        LLMCallPayload,
        description="An LLM call (an external agent may report its own).",
        client_postable=True,
    ),
    EventType(
        "run_control",
        RunControlPayload,
        description="A run's control state (an external agent's own run).",
        client_postable=True,
    ),
):
    register(_event_type)
