"""The execution agent: each closed candle goes through the engine's live path, and every
decision it makes becomes an event (trigger, block, risk claim, order, fill, risk release).

One decision at a time: candles are processed under a Postgres advisory lock, so concurrent
workers cannot interleave two decisions. The engine's whole state after each candle, including
what the database decided about it (a refused risk claim, a flatten, the kill switch), is
checkpointed in the same transaction (``EngineCheckpoint``) with a version. A process keeps the
engine in memory and reloads the checkpoint whenever its copy is not the latest version, so any
number of processes, restarts and kills decide exactly as one process would. Every event has a
dedupe key derived from the plan, the engine's chain number and the step, so a task retried after
a crash writes nothing twice.
"""

import logging
import pickle
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from events.models import Event, RunSummary
from events.services import emit

from .brokers import OrderTicket, broker_for
from .engine.bars import Candle as EngineCandle
from .engine.reasons import Block as EngineBlock
from .engine.sizing import Instrument as EngineInstrument
from .engine.step import LiveEngine
from .limits import limits_from_config
from .market_data import candles_between, lot_sizes
from .models import (
    EngineCheckpoint,
    ExecutionStep,
    FlattenRequest,
    Position,
    RiskAllocation,
    RiskBudgetDay,
    StrategyPlan,
)
from .selectors import plan_active, runtime_config_get
from .services import LIVE_RUN_ID

logger = logging.getLogger(__name__)
SOURCE = "agent:execution"
# Bumped when the engine's classes change shape: a checkpoint of another format is not loaded.
CHECKPOINT_FORMAT = 1


BAR_TIMED_TYPES = frozenset({"trigger_fired", "trade_blocked", "order_submitted", "fill"})


def _bar_day(candle: EngineCandle):
    """The risk day is the traded bar's UTC day, in live trading as in backtests (parity)."""
    return datetime.fromtimestamp(candle.ts, tz=UTC).date()


class CheckpointUnreadable(RuntimeError):
    """The plan's checkpoint was written by an incompatible version of the engine."""


@dataclass
class _PlanEngine:
    """One plan's engine and the last candle it processed per symbol: what a checkpoint holds."""

    engine: LiveEngine
    last_open_time: dict[str, datetime] = field(default_factory=dict)
    version: int = 0  # the checkpoint version this copy is at (0: never checkpointed)


class EngineCache:
    """This process's copy of the active plan's engine; only ever trusted at the checkpoint's version."""

    def __init__(self):
        self._plan_engines: dict[uuid.UUID, _PlanEngine] = {}

    def get(self, plan_event_id: uuid.UUID, version: int) -> "_PlanEngine | None":
        held = self._plan_engines.get(plan_event_id)
        return held if held is not None and held.version == version else None

    def put(self, plan_event_id: uuid.UUID, plan_engine: "_PlanEngine") -> None:
        self._plan_engines = {plan_event_id: plan_engine}  # only the active plan's engine is kept

    def clear(self) -> None:
        self._plan_engines.clear()


engine_cache = EngineCache()


def _dec(value) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))


def engine_plan(plan: StrategyPlan):
    from .engine.strategy import Plan
    from .planner import LIVE_PLAN_OPTIONS, build_live_plan

    if "plan" in plan.rules:
        return Plan.from_dict(plan.rules["plan"])
    options = plan.rules.get("options") or LIVE_PLAN_OPTIONS
    return build_live_plan(plan.rules["preset"], plan.rules.get("params") or {}, plan.symbols, options)


def _new_engine(plan: StrategyPlan, config) -> LiveEngine:
    plan_ = engine_plan(plan)
    instruments = {s: EngineInstrument(s, lot) for s, lot in lot_sizes(plan.symbols).items()}
    return LiveEngine(
        plan_,
        limits_from_config(config),
        initial_cash=float(plan.rules.get("cash", settings.PAPER_INITIAL_CASH)),
        timeframe_s=int(plan.rules.get("timeframe_s", 3600)),
        instruments=instruments,
        mode=config.mode,
        live_confirmed=config.mode == "live",
        # a checkpoint is written after every candle: keep it small and of bounded size (the least
        # history the engine allows; it keeps between one and two times this many candles)
        max_history=plan_.warmup_bars,
        keep_log=False,
    )


def _engine_for(plan: StrategyPlan, config) -> _PlanEngine:
    """The plan's engine as of the latest checkpoint: this process's copy if it is that version,
    else the checkpoint itself (another process decided since), else a new engine."""
    version = (
        EngineCheckpoint.objects.filter(plan_event_id=plan.event_id).values_list("version", flat=True).first() or 0
    )
    held = engine_cache.get(plan.event_id, version)
    if held is not None:
        return held
    if version == 0:
        held = _PlanEngine(_new_engine(plan, config))
    else:
        checkpoint = EngineCheckpoint.objects.get(plan_event_id=plan.event_id)
        if checkpoint.format != CHECKPOINT_FORMAT:
            raise CheckpointUnreadable(
                f"plan {plan.plan_id}: its engine checkpoint has format {checkpoint.format}, this version reads "
                f"{CHECKPOINT_FORMAT}; replan to start a new engine"
            )
        engine, last_open_time = pickle.loads(checkpoint.state)  # noqa: S301 - written only by _checkpoint below
        held = _PlanEngine(engine, last_open_time, version)
    engine_cache.put(plan.event_id, held)
    return held


def _checkpoint(plan: StrategyPlan, held: _PlanEngine) -> None:
    """Record the engine's state after this transaction's candles, as the next version."""
    held.version += 1
    EngineCheckpoint.objects.update_or_create(
        plan_event_id=plan.event_id,
        defaults={
            "version": held.version,
            "format": CHECKPOINT_FORMAT,
            "state": pickle.dumps((held.engine, held.last_open_time), protocol=pickle.HIGHEST_PROTOCOL),
        },
    )


def _step(held: _PlanEngine, symbol: str, candle: EngineCandle, entries: bool, kill: bool, force_exit: bool):
    engine = held.engine
    engine.state.kill_switch = kill
    decisions = engine.step(symbol, candle, allow_entry=entries, force_exit=force_exit)
    held.last_open_time[symbol] = datetime.fromtimestamp(candle.ts, tz=UTC)
    return decisions


def _advisory_lock() -> None:
    from tradingops.db import LockKey, advisory_xact_lock

    advisory_xact_lock(LockKey.EXECUTION)


def _decided_by_any_plan(symbol: str, open_time: datetime) -> bool:
    return ExecutionStep.objects.filter(symbol=symbol, open_time__gte=open_time, warmup=False).exists()


def _paused() -> bool:
    state = RunSummary.objects.filter(run_id=LIVE_RUN_ID).values_list("control_state", flat=True).first()
    return state in (RunSummary.ControlState.PAUSED, RunSummary.ControlState.STOPPED)


def execution_on_candle(*, symbol: str, timeframe: str, open_time: str | datetime) -> int:
    """Process the closed candle (and any of the symbol's candles missed before it). Returns the
    number of decisions recorded."""
    try:
        return _execute(symbol=symbol, timeframe=timeframe, open_time=open_time)
    except BaseException:
        engine_cache.clear()  # the transaction rolled back: the in-memory engine is ahead of the database
        raise


@transaction.atomic(durable=True)
def _execute(*, symbol: str, timeframe: str, open_time: str | datetime) -> int:
    started = time.monotonic()
    if timeframe != settings.AGENT_TIMEFRAME:
        return 0
    open_time = open_time if isinstance(open_time, datetime) else datetime.fromisoformat(open_time)
    _advisory_lock()
    plan = plan_active()
    if plan is None or symbol not in plan.symbols:
        return 0
    config = runtime_config_get()
    held = _engine_for(plan, config)
    held.engine.machine.limits = limits_from_config(config)
    last = held.last_open_time.get(symbol)
    if last is None and _decided_by_any_plan(symbol, open_time):
        return 0  # a late or redelivered task: a new plan starts at the first candle no plan decided
    if last is None:  # the plan's first candle of this symbol: warm the indicators up on history
        warmup = held.engine.plan.warmup_bars
        history = candles_between(symbol=symbol, timeframe=timeframe, after=None, until=open_time, last=warmup + 1)
        candles = history
        warm = {c.ts for c in history[:-1]}
    else:
        candles = candles_between(symbol=symbol, timeframe=timeframe, after=last, until=open_time)
        warm = set()
    if not candles:  # already processed (a retried or late task)
        return 0
    entries_allowed = not _paused()
    flattens = list(FlattenRequest.objects.select_for_update().filter(symbol=symbol, applied_at__isnull=True))
    recorded = 0
    recorder = _Recorder(plan, symbol, held.engine)
    for candle in candles:
        force_exit = bool(flattens) and candle.ts not in warm
        entries = entries_allowed and candle.ts not in warm
        decisions = _step(held, symbol, candle, entries, config.kill_switch, force_exit)
        ExecutionStep.objects.create(
            plan_event_id=plan.event_id,
            symbol=symbol,
            open_time=datetime.fromtimestamp(candle.ts, tz=UTC),
            entries_allowed=entries,
            kill_switch=config.kill_switch,
            force_exit=force_exit,
            warmup=candle.ts in warm,
        )
        if force_exit:
            FlattenRequest.objects.filter(pk__in=[f.pk for f in flattens]).update(applied_at=recorder.now)
            flattens = []
        recorded += recorder.record(decisions, candle, config)
        if symbol in held.engine.state.positions and candle.ts not in warm:
            # every candle, even when catching up several: the next claim's budget is sized on this
            # equity, so marking only the last would make decisions depend on how tasks were batched
            emit(
                "marks_updated",
                {"prices": {symbol: _dec(candle.close)}},
                source=SOURCE,
                dedupe_key=f"mark:{symbol}:{candle.ts}",
            )
    _checkpoint(plan, held)
    emit(
        "agent_run",
        {"agent": "execution", "status": "ok", "duration_ms": int((time.monotonic() - started) * 1000)},
        source=SOURCE,
        correlation_id=plan.correlation_id,
    )
    return recorded


class _Recorder:
    """Turns engine decisions into events, threading causation through each chain."""

    def __init__(self, plan: StrategyPlan, symbol: str, engine: LiveEngine):
        self.plan = plan
        self.symbol = symbol
        self.engine = engine
        self.tag = plan.event_id.hex[:8]
        self.now = datetime.now(tz=UTC)
        self.triggers: dict[int, Event] = {}
        self.orders: dict[int, Event] = {}

    def _key(self, chain: int, kind: str) -> str:
        return f"exec:{self.plan.event_id}:{self.symbol}:{chain}:{kind}"

    def order_id(self, chain: int) -> str:
        return f"{self.tag}-{self.symbol}-{chain}"

    def _emit(self, event_type, payload, *, chain, kind, causation_id=None):
        """Decisions are stamped with the time they were made; the bar's time is in the payload
        (charts place them at it)."""
        if event_type in BAR_TIMED_TYPES:
            payload = {**payload, "bar_open_time": self.bar_open_time}
        return emit(
            event_type,
            payload,
            source=SOURCE,
            run_id=LIVE_RUN_ID,
            correlation_id=self.plan.correlation_id,
            causation_id=causation_id,
            dedupe_key=self._key(chain, kind),
        )

    def _plan_cause(self):
        judged = (
            Event.objects.filter(
                correlation_id=self.plan.correlation_id, type="plan_judged", ts__gte=self.plan.created_at
            )
            .order_by("-ts", "-id")
            .values_list("event_id", flat=True)
            .first()
        )
        return judged or self.plan.event_id

    def _lookup(self, chain: int, kind: str) -> Event | None:
        return Event.objects.filter(dedupe_key=self._key(chain, kind)).first()

    def record(self, decisions, candle: EngineCandle, config) -> int:
        self.bar_open_time = datetime.fromtimestamp(candle.ts, tz=UTC)
        for d in decisions:
            handler = getattr(self, f"_on_{d.kind}")
            handler(d, candle, config)
        return len(decisions)

    def _trigger_of(self, chain: int) -> Event | None:
        return self.triggers.get(chain) or self._lookup(chain, "trigger")

    def _on_trigger(self, d, candle, config):
        rules = self.plan.rules.get("plans") or []
        sp = next((r for r in rules if r.get("symbol") == self.symbol), {})
        self.triggers[d.chain] = self._emit(
            "trigger_fired",
            {
                "plan_id": self.plan.plan_id,
                "symbol": self.symbol,
                "side": "buy" if d.rule == "entry" else "sell",
                "rule": f"{d.rule}: {sp.get(d.rule) or d.rule}",
                "price": _dec(candle.close),
            },
            chain=d.chain,
            kind="trigger",
            causation_id=self._plan_cause(),
        )

    def _block(self, d, *, reason: str, reason_class: str, detail: dict, price: float | None = None) -> None:
        trigger = self._trigger_of(d.chain)
        price = d.price or price
        self._emit(
            "trade_blocked",
            {
                "symbol": self.symbol,
                "side": d.side or "buy",
                "reason": reason,
                "reason_class": reason_class,
                "detail": detail,
                "plan_id": self.plan.plan_id,
                "trigger_id": str(trigger.event_id) if trigger else None,
                "qty": _dec(max(d.qty, 0.0)) if d.qty is not None else None,
                "price": _dec(price) if price else None,
            },
            chain=d.chain,
            kind="block",
            causation_id=trigger.event_id if trigger else None,
        )

    def _on_block(self, d, candle, config):
        detail = d.block.payload()["detail"]
        self._block(d, reason=d.block.reason, reason_class=d.block.reason_class, detail=detail, price=candle.close)
        allocation = RiskAllocation.objects.filter(allocation_id=self.order_id(d.chain), status="claimed").first()
        if allocation is not None:  # blocked at the fill: give the claim back
            self._release(d, allocation.allocation_id, "expired", cause=None)

    def _on_block_outcome(self, d, candle, config):
        """The shadow of a block closed: record what taking the trade would have done, caused by the
        block (a block this engine never recorded, e.g. one refused before a restart, has no outcome)."""
        block = self._lookup(d.chain, "block")
        if block is None:
            return
        outcome = d.outcome.payload()
        outcome.pop("status")
        self._emit(
            "block_outcome",
            {
                **outcome,
                "block_event_id": str(block.event_id),
                "symbol": self.symbol,
                "plan_id": self.plan.plan_id,
            },
            chain=d.chain,
            kind="block-outcome",
            causation_id=block.event_id,
        )

    def _release(self, d, allocation_id: str, status: str, *, cause: Event | None) -> None:
        self._emit(
            "risk_released",
            {"allocation_id": allocation_id, "status": status},
            chain=d.chain,
            kind=f"risk-{status}:{allocation_id}",
            causation_id=cause.event_id if cause else None,
        )

    def _forget_entry(self) -> None:
        """The database refused the entry: the engine must not wait for its fill. The checkpoint
        written after this candle carries that to every other process."""
        self.engine.machine.pending.pop(self.symbol, None)
        self.engine.state.drop_claim(self.symbol)

    def _follow_refused(self, d, refused: dict) -> None:
        """An entry the database's budget refused is followed as a shadow like any block the engine
        made: from the next open, with the order's quantity (its outcome is caused by this block)."""
        machine = self.engine.machine
        book = getattr(machine, "shadow", None)
        if book is not None and d.qty:
            block = EngineBlock("risk_budget_exhausted", refused)
            book.on_block(machine, self.symbol, d.bar, d.ts, d.chain, block, d.qty)

    def _submit(self, d) -> Event:
        # an entry's order follows from its risk claim, the claim from the trigger: one path per decision
        cause = self._lookup(d.chain, "risk-claim") if d.intent == "entry" else None
        cause = cause or self._trigger_of(d.chain)
        order = self._emit(
            "order_submitted",
            {"order_id": self.order_id(d.chain), "symbol": self.symbol, "side": d.side, "qty": _dec(d.qty)},
            chain=d.chain,
            kind="order",
            causation_id=cause.event_id if cause else None,
        )
        self.orders[d.chain] = order
        return order

    def _on_order(self, d, candle, config):
        if d.intent == "entry":
            refused = risk_claim(
                allocation_id=self.order_id(d.chain),
                symbol=self.symbol,
                amount=_dec(d.risk),
                config=config,
                day=_bar_day(candle),
                correlation_id=self.plan.correlation_id,
                causation_id=getattr(self._trigger_of(d.chain), "event_id", None),
                dedupe_key=self._key(d.chain, "risk-claim"),
            )
            if refused is not None:  # the database's budget refused: the engine must not wait for a fill
                self._block(d, reason="risk_budget_exhausted", reason_class="risk_valid", detail=refused)
                self._forget_entry()
                self._follow_refused(d, refused)
                return
        self._submit(d)

    def _exit_reason(self, chain: int) -> dict:
        """An exit fill names why it exits: the engine's rule of the trigger that began its chain
        (``stop: entry - 2`` -> ``stop``; exit, stop, target)."""
        trigger = self._trigger_of(chain)
        rule = (trigger.payload.get("rule") or "").split(":", 1)[0].strip() if trigger else ""
        return {"exit_reason": rule} if rule else {}

    def _on_fill(self, d, candle, config):
        # stops and targets fill without a separate order decision
        order = self.orders.get(d.chain) or self._lookup(d.chain, "order") or self._submit(d)
        order_id = self.order_id(d.chain)
        if config.mode == "live":
            reports = broker_for(config).submit(OrderTicket(order_id, self.symbol, d.side, _dec(d.qty), _dec(d.price)))
            fills = [(r.fill_id, r.price, r.qty, r.fee) for r in reports]
        else:  # paper: the engine's own fill model is the paper broker's, at the bar's open
            fills = [(f"{order_id}-1", _dec(d.price), _dec(d.qty), _dec(d.fee))]
            _settle_on_paper_exchange(self.symbol, d.side, fills)
        reason = self._exit_reason(d.chain) if d.intent == "exit" else {}
        for fill_id, price, qty, fee in fills:
            self._emit(
                "fill",
                {
                    "fill_id": fill_id,
                    "order_id": order_id,
                    "symbol": self.symbol,
                    "side": d.side,
                    "qty": qty,
                    "price": price,
                    "fee": fee,
                    **reason,
                },
                chain=d.chain,
                kind=f"fill:{fill_id}",
                causation_id=order.event_id,
            )
        if d.intent == "entry":
            self._release(d, order_id, "used", cause=order)
        else:
            used = RiskAllocation.objects.filter(symbol=self.symbol, status="used").values_list(
                "allocation_id", flat=True
            )
            for allocation_id in used:
                self._release(d, allocation_id, "released", cause=order)


def _settle_on_paper_exchange(symbol: str, side: str, fills) -> None:
    """The paper venue's side of the fills; the ledger side is booked by the fill projector."""
    from wallets.services import paper_exchange_settle_fill

    from .projectors import paper_wallet_id

    wallet_id = paper_wallet_id()
    if wallet_id is None:
        return
    for fill_id, price, qty, fee in fills:
        paper_exchange_settle_fill(wallet_id=wallet_id, fill_id=fill_id, symbol=symbol, side=side, qty=qty, price=price,
                                   fee=fee)  # fmt: skip


def risk_claim(
    *, allocation_id, symbol, amount, config, day, correlation_id, dedupe_key, causation_id=None
) -> dict | None:
    """Claim risk from the day's budget under the budget row's lock. None when claimed, else the
    numbers that refused it. However many workers claim at once, the budget is never exceeded."""
    from .selectors import portfolio_summary

    equity = portfolio_summary()["equity"] or Decimal(settings.PAPER_INITIAL_CASH)
    budget_amount = (config.daily_risk_budget * equity).quantize(Decimal("0.00000001"))
    RiskBudgetDay.objects.get_or_create(day=day, defaults={"budget": budget_amount})
    budget = RiskBudgetDay.objects.select_for_update().get(day=day)
    if RiskAllocation.objects.filter(allocation_id=allocation_id).exists():
        return None
    if budget.consumed + amount > budget.budget:
        return {
            "budget": str(budget.budget),
            "consumed": str(budget.consumed),
            "trade_risk": str(amount),
            "available": str(budget.budget - budget.consumed),
        }
    emit(
        "risk_claimed",
        {
            "allocation_id": allocation_id,
            "day": day,
            "symbol": symbol,
            "amount": amount,
            "budget": budget.budget,
            "order_id": allocation_id,
        },
        source=SOURCE,
        run_id=LIVE_RUN_ID,
        correlation_id=correlation_id,
        causation_id=causation_id,
        dedupe_key=dedupe_key,
    )
    return None


def flatten_request_in_transaction(*, symbols: list[str] | None, intent: Event) -> int:
    """Ask the execution agent to exit positions at its next candle (``None``: every open position)."""
    held = Position.objects.exclude(qty=0)
    if symbols:
        held = held.filter(symbol__in=symbols)
    requests = [
        FlattenRequest(
            symbol=s, intent_event_id=intent.event_id, correlation_id=intent.correlation_id, requested_at=intent.ts
        )
        for s in held.values_list("symbol", flat=True)
    ]
    FlattenRequest.objects.bulk_create(requests, ignore_conflicts=True)
    return len(requests)


@transaction.atomic(durable=True)
def positions_snapshot() -> Event | None:
    positions = list(Position.objects.exclude(qty=0).order_by("symbol"))
    now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
    return emit(
        "positions_snapshotted",
        {
            "positions": [
                {
                    "symbol": p.symbol,
                    "qty": p.qty,
                    "avg_entry_price": p.avg_entry_price,
                    "mark_price": p.mark_price,
                    "unrealized_pnl": p.unrealized_pnl,
                    "realized_pnl": p.realized_pnl,
                }
                for p in positions
            ]
        },
        source="agent:snapshot",
        dedupe_key=f"snapshot:{now.isoformat()}",
        ts=now,
    )


@transaction.atomic(durable=True)
def risk_expire_stale_claims() -> int:
    """Claims that never turned into a position expire once their symbol is trading a later day.

    Risk days are bar days, so "later" is judged against the newest candle processed for the
    symbol, not the wall clock (a replay of last year trades last year's days). Under the execution
    lock: a claim is never expired while its fill is being decided."""
    _advisory_lock()
    newest = dict(
        ExecutionStep.objects.values("symbol").annotate(newest=Max("open_time")).values_list("symbol", "newest")
    )
    stale = [
        allocation_id
        for allocation_id, symbol, day in RiskAllocation.objects.filter(status="claimed").values_list(
            "allocation_id", "symbol", "day"
        )
        if symbol in newest and day < newest[symbol].date()
    ]
    for allocation_id in stale:
        emit(
            "risk_released",
            {"allocation_id": allocation_id, "status": "expired"},
            source=SOURCE,
            dedupe_key=f"risk-expired:{allocation_id}",
        )
    return len(stale)
