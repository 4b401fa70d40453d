"""Events → the trading read models, in the transaction that writes the events.

Registered at ``AgentsConfig.ready()``. Each projector is idempotent per event (rows carry the
event id or a unique business id) and processes a batch in log order.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from django.conf import settings
from django.db.models import F
from django.utils.dateparse import parse_datetime

from events.models import Event
from events.projectors import Projector, register
from tradingops.db import upsert_increment
from tradingops.fields import DECIMAL_PLACES
from wallets.selectors import paper_wallet_get
from wallets.services import ledger_post_fill

from .models import (
    AgentStatus,
    BlockEvent,
    BlockOutcome,
    BlockTally,
    EquityPoint,
    Fill,
    Intent,
    Judgement,
    Order,
    Portfolio,
    Position,
    PositionSnapshot,
    RiskAllocation,
    RiskBudgetDay,
    StrategyPlan,
    Trade,
)

ZERO = Decimal(0)


def _portfolio(ts) -> Portfolio:
    portfolio = Portfolio.objects.select_for_update().filter(pk=1).first()
    if portfolio is None:
        cash = Decimal(settings.PAPER_INITIAL_CASH)
        portfolio = Portfolio.objects.create(
            pk=1, cash=cash, initial_cash=cash, day=ts.date(), day_start_equity=cash, updated_at=ts
        )
    if portfolio.day != ts.date():
        portfolio.day = ts.date()
        portfolio.day_start_equity = portfolio.cash + sum(
            (p.qty * p.mark_price for p in Position.objects.exclude(qty=0)), ZERO
        )
    return portfolio


# --- Orders, fills, positions, portfolio -----------------------------------------------------


def project_orders(events: Sequence[Event]) -> None:
    Order.objects.bulk_create(
        [
            Order(
                order_id=e.payload["order_id"],
                symbol=e.payload["symbol"],
                side=e.payload["side"],
                qty=Decimal(e.payload["qty"]),
                order_type=e.payload.get("order_type", "market"),
                limit_price=e.payload.get("limit_price"),
                ts=e.ts,
                run_id=e.run_id,
                correlation_id=e.correlation_id,
            )
            for e in events
        ],
        ignore_conflicts=True,
    )


def project_fills(events: Sequence[Event]) -> None:
    for event in events:
        _apply_fill(event)


def _apply_fill(event: Event) -> None:
    p = event.payload
    if Fill.objects.filter(event_id=event.event_id).exists():
        return
    qty, price, fee = Decimal(p["qty"]), Decimal(p["price"]), Decimal(p.get("fee", "0"))
    position, _ = Position.objects.select_for_update().get_or_create(
        symbol=p["symbol"], defaults={"updated_at": event.ts}
    )
    portfolio = _portfolio(event.ts)
    realized = ZERO
    held_before = position.qty
    if p["side"] == "buy":
        new_qty = position.qty + qty
        position.avg_entry_price = (position.avg_entry_price * position.qty + price * qty) / new_qty
        if position.qty == 0:
            position.opened_at = event.ts
        position.qty = new_qty
        portfolio.cash -= price * qty + fee
    else:
        closing = min(qty, position.qty)
        realized = (price - position.avg_entry_price) * closing
        position.qty -= closing
        position.realized_pnl += realized
        if position.qty == 0:
            position.avg_entry_price = ZERO
            position.opened_at = None
        portfolio.cash += price * qty - fee
    position.mark_price = price
    position.updated_at = event.ts
    position.save()
    portfolio.realized_pnl += realized
    portfolio.fees_paid += fee
    portfolio.updated_at = event.ts
    portfolio.save()
    Fill.objects.create(
        fill_id=p["fill_id"],
        order_id=p["order_id"],
        symbol=p["symbol"],
        side=p["side"],
        qty=qty,
        price=price,
        fee=fee,
        realized_pnl=realized,
        ts=event.ts,
        run_id=event.run_id,
        correlation_id=event.correlation_id,
        event_id=event.event_id,
    )
    Order.objects.filter(order_id=p["order_id"]).update(status=Order.Status.FILLED, filled_qty=F("filled_qty") + qty)
    _apply_fill_to_trade(event, held_before=held_before, held_after=position.qty, realized=realized)
    _book_in_paper_wallet(event)
    _record_equity(event)


def _apply_fill_to_trade(event: Event, *, held_before: Decimal, held_after: Decimal, realized: Decimal) -> None:
    """A buy from flat opens a trade, later buys add to it; sells close what they sell, and the
    sell that leaves the symbol flat closes the trade (net P&L, % of the entry cost, exit reason)."""
    p = event.payload
    qty, price, fee = Decimal(p["qty"]), Decimal(p["price"]), Decimal(p.get("fee", "0"))
    trade = Trade.objects.select_for_update().filter(symbol=p["symbol"], status=Trade.Status.OPEN).first()
    if p["side"] == "buy":
        if trade is None:
            Trade.objects.create(
                symbol=p["symbol"], ts=event.ts, qty=qty, open_qty=qty, entry_price=price, fees=fee,
                run_id=event.run_id, correlation_id=event.correlation_id, entry_event_id=event.event_id,
            )  # fmt: skip
            return
        trade.entry_price = (trade.entry_price * trade.qty + price * qty) / (trade.qty + qty)
        trade.qty += qty
        trade.open_qty += qty
    else:
        closing = held_before - held_after
        if trade is None or closing <= 0:
            return  # nothing held to sell (a position opened before trades were kept)
        trade.exit_price = ((trade.exit_price or ZERO) * trade.exit_qty + price * closing) / (trade.exit_qty + closing)
        trade.exit_qty += closing
        trade.open_qty = held_after
        trade.realized_pnl += realized
        if held_after == 0:
            trade.status = Trade.Status.CLOSED
            trade.closed_at = event.ts
            trade.exit_reason = p.get("exit_reason") or "exit"
            trade.exit_event_id = event.event_id
    trade.fees += fee
    trade.fills += 1
    if trade.status == Trade.Status.CLOSED:
        trade.pnl = trade.realized_pnl - trade.fees
        cost = trade.entry_price * trade.qty
        trade.pnl_pct = (trade.pnl / cost).quantize(Decimal("1E-12")) if cost else None
    trade.save()


EQUITY_BUCKET_SECONDS = 60


def _record_equity(event: Event) -> None:
    """The book's equity after this event, as the point of its minute (the log's last event in the
    minute wins, so a replay gives the same curve whatever order it finds the rows in)."""
    portfolio = Portfolio.objects.filter(pk=1).first()
    if portfolio is None:
        return
    bucket = event.ts.replace(second=0, microsecond=0)
    point = EquityPoint.objects.select_for_update().filter(ts=bucket).first()
    if point is not None and point.last_event >= event.id:
        return
    positions = list(Position.objects.exclude(qty=0).values_list("qty", "avg_entry_price", "mark_price"))
    market_value = sum((q * mark for q, _, mark in positions), ZERO)
    state = {
        "equity": portfolio.cash + market_value,
        "cash": portfolio.cash,
        "market_value": market_value,
        "realized_pnl": portfolio.realized_pnl,
        "unrealized_pnl": sum(((mark - avg) * q for q, avg, mark in positions), ZERO),
        "fees_paid": portfolio.fees_paid,
        "last_event": event.id,
    }
    if point is None:
        EquityPoint.objects.create(ts=bucket, **state)
    else:
        EquityPoint.objects.filter(pk=point.pk).update(**state)


def paper_wallet_id() -> int | None:

    wallet = paper_wallet_get(name=settings.PAPER_WALLET_NAME)
    return wallet.pk if wallet else None


def _book_in_paper_wallet(event: Event) -> None:
    """Paper fills move the paper wallet's ledger (idempotent by fill id, so replays book nothing twice)."""
    wallet_id = paper_wallet_id()
    if wallet_id is None or event.source.startswith("exchange:"):
        return

    p = event.payload
    ledger_post_fill(
        wallet_id=wallet_id, fill_id=p["fill_id"], symbol=p["symbol"], side=p["side"], qty=p["qty"], price=p["price"],
        fee=p.get("fee", "0"), fee_currency=p.get("fee_currency"), event_id=event.event_id,
        correlation_id=event.correlation_id, ts=event.ts,
    )  # fmt: skip


def project_marks(events: Sequence[Event]) -> None:
    for event in events:
        for symbol, price in sorted(event.payload["prices"].items()):
            Position.objects.filter(symbol=symbol).update(mark_price=Decimal(price), updated_at=event.ts)
        _record_equity(event)


def project_position_updates(events: Sequence[Event]) -> None:
    """``position_update`` comes from an exchange (live) and states the position outright."""
    for event in events:
        p = event.payload
        defaults = {
            "qty": Decimal(p["qty"]),
            "avg_entry_price": Decimal(p["avg_entry_price"]),
            "updated_at": event.ts,
        }
        if p.get("mark_price") is not None:
            defaults["mark_price"] = Decimal(p["mark_price"])
        Position.objects.update_or_create(symbol=p["symbol"], defaults=defaults)
        _record_equity(event)


def project_snapshots(events: Sequence[Event]) -> None:
    PositionSnapshot.objects.bulk_create(
        [
            PositionSnapshot(
                symbol=row["symbol"],
                ts=event.ts,
                qty=Decimal(row["qty"]),
                avg_entry_price=Decimal(row["avg_entry_price"]),
                mark_price=Decimal(row["mark_price"]),
                unrealized_pnl=Decimal(row["unrealized_pnl"]),
                realized_pnl=Decimal(row["realized_pnl"]),
                event_id=event.event_id,
            )
            for event in events
            for row in event.payload["positions"]
        ],
        ignore_conflicts=True,
    )


def reset_trading() -> None:
    for model in (Fill, Order, Position, PositionSnapshot, Portfolio, Trade, EquityPoint):
        model.objects.all().delete()


register(
    Projector(
        "trading",
        frozenset({"order_submitted", "fill", "marks_updated", "position_update", "positions_snapshotted"}),
        lambda events: _dispatch(
            events,
            {
                "order_submitted": project_orders,
                "fill": project_fills,
                "marks_updated": project_marks,
                "position_update": project_position_updates,
                "positions_snapshotted": project_snapshots,
            },
        ),
        reset_trading,
    )
)


def _dispatch(events: Sequence[Event], handlers) -> None:
    """Apply each run of same-typed events in log order (a fill must see the order before it)."""
    start = 0
    for index in range(1, len(events) + 1):
        if index == len(events) or events[index].type != events[start].type:
            handlers[events[start].type](events[start:index])
            start = index


# --- Blocks ----------------------------------------------------------------------------------


def project_blocks(events: Sequence[Event]) -> None:
    BlockEvent.objects.bulk_create(
        [
            BlockEvent(
                ts=e.ts,
                symbol=e.payload["symbol"],
                side=e.payload["side"],
                reason=e.payload["reason"],
                reason_class=e.payload["reason_class"],
                detail=e.payload.get("detail", {}),
                plan_id=e.payload.get("plan_id") or "",
                run_id=e.run_id,
                correlation_id=e.correlation_id,
                event_id=e.event_id,
            )
            for e in events
        ],
        ignore_conflicts=True,
    )


register(Projector("blocks", frozenset({"trade_blocked"}), project_blocks, lambda: BlockEvent.objects.all().delete()))


def block_times(outcomes: Sequence[Event]) -> dict[str, datetime | str]:
    """When each outcome's block was recorded (its ``trade_blocked`` event's time), by the outcome's
    event id: the one clock blocks and their outcomes are counted on. The payload's ``blocked_at``
    is the bar's time, which a replay takes from history. An outcome whose block is not in the log
    (the execution agent never writes one) falls back to it. One query per batch."""
    block_of = {str(e.event_id): UUID(str(e.payload["block_event_id"])) for e in outcomes}
    recorded = dict(
        Event.objects.filter(event_id__in=set(block_of.values()), type="trade_blocked").values_list("event_id", "ts")
    )
    return {str(e.event_id): recorded.get(block_of[str(e.event_id)], e.payload["blocked_at"]) for e in outcomes}


def project_block_outcomes(events: Sequence[Event]) -> None:
    def num(p, name):
        return Decimal(p[name]) if p.get(name) is not None else None

    block_ts = block_times(events)
    rows = []
    for e in events:
        p = e.payload
        rows.append(
            BlockOutcome(
                ts=e.ts,
                block_ts=block_ts[str(e.event_id)],
                blocked_at=p["blocked_at"],
                symbol=p["symbol"],
                side=p["position_side"],
                reason=p["reason"],
                reason_class=p["reason_class"],
                rule=p.get("rule") or "",
                status=p.get("status", "closed"),
                exit_reason=p["exit_reason"],
                qty=num(p, "qty"),
                entry_at=p["entry_at"],
                entry_price=num(p, "entry_price"),
                exit_at=p["exit_at"],
                exit_price=num(p, "exit_price"),
                fees=num(p, "fees"),
                pnl=num(p, "pnl"),
                pnl_pct=num(p, "pnl_pct"),
                mae=num(p, "mae"),
                mae_pct=num(p, "mae_pct"),
                holding_s=p["holding_s"],
                stop=num(p, "stop"),
                target=num(p, "target"),
                plan_id=p.get("plan_id") or "",
                run_id=e.run_id,
                correlation_id=e.correlation_id,
                block_event_id=p["block_event_id"],
                event_id=e.event_id,
            )
        )
    BlockOutcome.objects.bulk_create(rows, ignore_conflicts=True)


register(
    Projector(
        "block_outcomes",
        frozenset({"block_outcome"}),
        project_block_outcomes,
        lambda: BlockOutcome.objects.all().delete(),
    )
)


def hour_of(value: datetime | str) -> datetime:
    """The UTC hour a time falls in."""
    ts = parse_datetime(value) if isinstance(value, str) else value
    if ts is None or ts.tzinfo is None:
        raise ValueError(f"not an aware time: {value!r}")
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


_STORED = Decimal(1).scaleb(-DECIMAL_PLACES)


def _as_stored(value: str) -> Decimal:
    """An amount as its 18-place column keeps it (PostgreSQL rounds numeric half away from zero), so
    that the tallies add exactly what the raw rows hold."""
    return Decimal(value).quantize(_STORED, rounding=ROUND_HALF_UP)


def project_block_tallies(events: Sequence[Event]) -> None:
    """Add each block and each shadow outcome to its hour's and its day's tally rows: every
    dimension, unfiltered and under each one-dimension filter, at the block's time (an outcome at
    its block's: ``block_times``). One upsert per batch."""
    acc: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, Decimal(0), Decimal(0)])
    block_ts = block_times([e for e in events if e.type == "block_outcome"])
    for e in events:
        p = e.payload
        values = {"reason": p["reason"], "reason_class": p["reason_class"], "symbol": p["symbol"]}
        if e.type == "trade_blocked":
            hour, add = hour_of(e.ts), (1, 0, 0, Decimal(0), Decimal(0))
        else:
            values["rule"] = p.get("rule") or ""
            pnl = _as_stored(p["pnl"])
            hour = hour_of(block_ts[str(e.event_id)])
            add = (0, 1, int(pnl < 0), -pnl if pnl < 0 else Decimal(0), pnl if pnl > 0 else Decimal(0))
        scope = (e.run_id, p.get("plan_id") or "")
        filters = [("", ""), *values.items()]
        for span, start in (("hour", hour), ("day", hour.replace(hour=0))):
            for filter_on, filter_value in filters:
                for dimension, key in values.items():
                    row = acc[(span, filter_on, filter_value, start, *scope, dimension, key)]
                    for i, amount in enumerate(add):
                        row[i] += amount
    rows = [(*key, *values) for key, values in sorted(acc.items())]
    for at in range(0, len(rows), TALLY_ROWS_PER_STATEMENT):
        upsert_increment(
            BlockTally._meta.db_table,
            keys=("span", "filter_on", "filter_value", "start", "run_id", "plan_id", "dimension", "key"),
            add=("blocks", "closed", "hits", "saved", "forgone"),
            rows=rows[at : at + TALLY_ROWS_PER_STATEMENT],
        )


TALLY_ROWS_PER_STATEMENT = 2000  # 13 parameters a row: under SQLite's 32,766 and PostgreSQL's 65,535


register(
    Projector(
        "block_tallies",
        frozenset({"trade_blocked", "block_outcome"}),
        project_block_tallies,
        lambda: BlockTally.objects.all().delete(),
    )
)


# --- Risk allocations ------------------------------------------------------------------------


def project_risk(events: Sequence[Event]) -> None:
    for event in events:
        p = event.payload
        if event.type == "risk_claimed":
            amount = Decimal(p["amount"])
            _, created = RiskAllocation.objects.get_or_create(
                allocation_id=p["allocation_id"],
                defaults={
                    "day": p["day"],
                    "symbol": p["symbol"],
                    "amount": amount,
                    "order_id": p.get("order_id") or "",
                    "correlation_id": event.correlation_id,
                    "claimed_at": event.ts,
                    "updated_at": event.ts,
                },
            )
            if created:
                RiskBudgetDay.objects.get_or_create(day=p["day"], defaults={"budget": Decimal(p["budget"])})
                _budget_move(p["day"], amount, to="claimed")
            continue
        allocation = RiskAllocation.objects.select_for_update().filter(allocation_id=p["allocation_id"]).first()
        new_status = p["status"]
        if allocation is None or allocation.status == new_status:
            continue
        _budget_move(allocation.day, allocation.amount, to=new_status, source=allocation.status)
        allocation.status = new_status
        allocation.updated_at = event.ts
        allocation.save(update_fields=["status", "updated_at"])


def _budget_move(day, amount: Decimal, *, to: str, source: str | None = None) -> None:
    """Move ``amount`` of the day's budget into bucket ``to`` (out of ``source``), in Decimal: SQL
    arithmetic on SQLite's decimals is floating point, and the books compare these sums exactly."""
    budget = RiskBudgetDay.objects.select_for_update().get(day=day)
    if source is not None:
        setattr(budget, source, getattr(budget, source) - amount)
    setattr(budget, to, getattr(budget, to) + amount)
    budget.save(update_fields=[to] + ([source] if source else []))


def reset_risk() -> None:
    RiskAllocation.objects.all().delete()
    RiskBudgetDay.objects.all().delete()


register(Projector("risk", frozenset({"risk_claimed", "risk_released"}), project_risk, reset_risk))


# --- Plans, judgements, intents, agent status ------------------------------------------------


def project_plans(events: Sequence[Event]) -> None:
    for event in events:
        p = event.payload
        if event.type == "plan_retired":
            StrategyPlan.objects.filter(plan_id=p["plan_id"], active=True).update(active=False, retired_at=event.ts)
            continue
        if StrategyPlan.objects.filter(event_id=event.event_id).exists():
            continue
        StrategyPlan.objects.filter(active=True).update(active=False, retired_at=event.ts)
        StrategyPlan.objects.create(
            plan_id=p["plan_id"],
            version=p.get("version", 1),
            strategy=p["strategy"],
            origin=p.get("origin", "template"),
            regime=p.get("regime") or "",
            symbols=p["symbols"],
            rules=p.get("rules", {}),
            fallback_reason=p.get("fallback_reason") or "",
            created_at=event.ts,
            correlation_id=event.correlation_id,
            event_id=event.event_id,
        )


def project_judgements(events: Sequence[Event]) -> None:
    Judgement.objects.bulk_create(
        [
            Judgement(
                plan_id=e.payload["plan_id"],
                overall_score=Decimal(e.payload["overall_score"]),
                component_scores=e.payload.get("component_scores", {}),
                recommendations=e.payload.get("recommendations", []),
                ts=e.ts,
                correlation_id=e.correlation_id,
                event_id=e.event_id,
            )
            for e in events
        ],
        ignore_conflicts=True,
    )


def project_intents(events: Sequence[Event]) -> None:
    Intent.objects.bulk_create(
        [
            Intent(
                action=e.payload["action"],
                symbol=e.payload.get("symbol") or "",
                params=e.payload.get("params", {}),
                note=e.payload.get("note") or "",
                source=e.source,
                ts=e.ts,
                correlation_id=e.correlation_id,
                event_id=e.event_id,
            )
            for e in events
        ],
        ignore_conflicts=True,
    )


def project_agent_runs(events: Sequence[Event]) -> None:
    for event in events:
        p = event.payload
        status, _ = AgentStatus.objects.select_for_update().get_or_create(
            agent=p["agent"], defaults={"last_run_at": event.ts, "last_status": p["status"]}
        )
        status.last_run_at = max(status.last_run_at, event.ts)
        status.last_status = p["status"]
        status.runs += 1
        if p["status"] == "error":
            status.errors += 1
            status.last_error = p.get("error") or ""
            status.last_error_at = event.ts
        status.save()


def reset_decisions() -> None:
    for model in (StrategyPlan, Judgement, Intent, AgentStatus):
        model.objects.all().delete()


register(
    Projector(
        "decisions",
        frozenset({"plan_generated", "plan_retired", "plan_judged", "intent", "agent_run"}),
        lambda events: _dispatch(
            events,
            {
                "plan_generated": project_plans,
                "plan_retired": project_plans,
                "plan_judged": project_judgements,
                "intent": project_intents,
                "agent_run": project_agent_runs,
            },
        ),
        reset_decisions,
    )
)
