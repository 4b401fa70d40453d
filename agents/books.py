"""The books' invariants, checked by code: claims, fills, positions, ledger, portfolio, risk budget.

``books_check()`` reads; it never repairs. Each invariant is a few aggregate queries (never one
per row) and reports every object that breaks it by its id, so an operator can go from a
violation straight to the fill, currency or day in the admin. All queries run in one snapshot
(``REPEATABLE READ`` on Postgres): the execution agent commits while we read, and comparing
tables read at different moments would report drift that never existed.

Quantities are compared exactly: the position projector, the paper ledger and the paper exchange
add up the same fill quantities (``wallets.services.fill_legs`` rounds them to the ledger's 18
places once, and every fill quantity has fewer). Cash is compared with a tolerance, because it
is legitimately rounded differently on the two sides: the portfolio rounds ``price * qty + fee``
once per fill when it is saved, the ledger rounds the notional and the fee separately
(``fill_legs``), so each fill may leave up to 1.5 units of the 18th decimal between them.
"""

import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from itertools import groupby
from operator import itemgetter
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from events.models import Event
from events.services import emit
from tradingops.db import decimal_slack, is_postgres
from tradingops.fields import DECIMAL_PLACES
from wallets.models import PaperExchangeBalance, WalletBalance
from wallets.selectors import paper_wallet_get

from .event_types import BOOKS_ALERT_MAX_VIOLATIONS
from .models import Fill, Portfolio, Position, RiskAllocation, RiskBudgetDay

ZERO = Decimal(0)
ROUNDING_PER_FILL = 2 * Decimal(1).scaleb(-DECIMAL_PLACES)  # > the 1.5 units explained above
SOURCE = "agent:books"

ENTRY_CLAIM = "entry_fill_has_one_used_claim"
BLOCKED_TRIGGER = "no_fill_from_blocked_trigger"
SELL_EXCEEDS = "no_sell_exceeds_position"
POSITIONS = "positions_equal_ledger_and_exchange"
PORTFOLIO = "portfolio_equals_ledger"
RISK_BUDGET = "risk_budget_equals_claims"
INVARIANTS = (ENTRY_CLAIM, BLOCKED_TRIGGER, SELL_EXCEEDS, POSITIONS, PORTFOLIO, RISK_BUDGET)


@dataclass(frozen=True)
class Violation:
    invariant: str
    object_id: str
    detail: dict[str, Any]

    def __str__(self) -> str:
        detail = ", ".join(f"{key}={_text(value)}" for key, value in self.detail.items())
        return f"{self.invariant} {self.object_id}: {detail}"


@dataclass
class BooksReport:
    violations: list[Violation] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        counts = ", ".join(f"{count} {name}" for name, count in self.checked.items())
        head = "books OK" if self.ok else f"books BROKEN: {len(self.violations)} violation(s)"
        checked = len(INVARIANTS) - len(self.skipped)
        line = f"{head}; {checked} of {len(INVARIANTS)} invariants checked over {counts} in {self.duration_ms} ms"
        if self.skipped:
            line += "; skipped: " + "; ".join(f"{name} ({why})" for name, why in self.skipped.items())
        return line

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


def _text(value: Any) -> str:
    return f"{value.normalize():f}" if isinstance(value, Decimal) else str(value)


def _same(ours: Decimal, theirs: Decimal, *, slack: Decimal = ZERO) -> bool:
    """Equal to the digits the database keeps (exact on Postgres; see ``decimal_slack``)."""
    return abs(ours - theirs) <= slack + decimal_slack(ours, theirs)


def books_check() -> BooksReport:
    """Check every invariant in one consistent snapshot of the database."""
    started = time.monotonic()
    report = BooksReport()
    with transaction.atomic():
        _snapshot()
        report.violations += _entry_fills_have_one_used_claim(report)
        report.violations += _no_fill_from_blocked_trigger(report)
        report.violations += _no_sell_exceeds_position(report)
        report.violations += _paper_books_agree(report, fills=report.checked["fills"])
        report.violations += _risk_budget_equals_claims(report)
    report.duration_ms = int((time.monotonic() - started) * 1000)
    return report


def _snapshot() -> None:
    """Every following query sees the same committed state. Only possible as the transaction's
    first statement (not inside a caller's transaction, e.g. a test's; SQLite is serial anyway)."""
    if is_postgres() and len(connection.atomic_blocks) == 1:
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")


# --- 1. every entry fill has exactly one claim, and it was used --------------------------------


def _entry_fills_have_one_used_claim(report: BooksReport) -> list[Violation]:
    """Long-only: entries are buys. A claim that was used is ``released`` once the position is
    closed (``execution._Recorder._on_fill``), so ``used`` and ``released`` both mean it was used;
    ``claimed`` (never used) and ``expired`` (given back) mean the fill had no risk behind it."""
    claims = RiskAllocation.objects.filter(order_id=OuterRef("order_id")).order_by().values("order_id")

    def count(queryset):
        return Coalesce(Subquery(queryset.annotate(n=Count("pk")).values("n")), 0, output_field=IntegerField())

    used = (RiskAllocation.Status.USED, RiskAllocation.Status.RELEASED)
    entries = Fill.objects.filter(side="buy")
    report.checked["entry fills"] = entries.count()
    rows = (
        entries.annotate(claims=count(claims), used_claims=count(claims.filter(status__in=used)))
        .exclude(claims=1, used_claims=1)
        .order_by("id")
        .values_list("fill_id", "order_id", "claims", "used_claims")
    )
    return [
        Violation(ENTRY_CLAIM, fill_id, {"order_id": order_id, "claims": claims, "used_claims": used_claims})
        for fill_id, order_id, claims, used_claims in rows
    ]


# --- 2. no fill descends from a trigger that was blocked -------------------------------------


def _no_fill_from_blocked_trigger(report: BooksReport) -> list[Violation]:
    """trigger_fired ← trade_blocked (the block's cause) and trigger_fired ← [risk_claimed ←]
    order_submitted ← fill: a trigger is either blocked or traded, never both. One query of
    semi-joins; only a violation's own path is looked up again."""
    blocked = Event.objects.filter(
        type="trigger_fired",
        event_id__in=Event.objects.filter(type="trade_blocked", causation_id__isnull=False).values("causation_id"),
    ).values("event_id")
    claims = Event.objects.filter(type="risk_claimed", causation_id__in=blocked).values("event_id")
    orders = Event.objects.filter(type="order_submitted").filter(
        Q(causation_id__in=blocked) | Q(causation_id__in=claims)
    )
    rows = (
        Event.objects.filter(type="fill", causation_id__in=orders.values("event_id"))
        .order_by("id")
        .values_list("payload__fill_id", "event_id", "causation_id")
    )
    violations = []
    for fill_id, event_id, order_id in rows:
        cause = Event.objects.values_list("causation_id", flat=True).get(event_id=order_id)
        kind, claim_cause = Event.objects.values_list("type", "causation_id").get(event_id=cause)
        trigger = claim_cause if kind == "risk_claimed" else cause
        detail = {"fill_event": event_id, "order_event": order_id, "trigger_event": trigger}
        violations.append(Violation(BLOCKED_TRIGGER, fill_id, detail))
    return violations


# --- 3. no sell exceeds the position held at the time ----------------------------------------


def _no_sell_exceeds_position(report: BooksReport) -> list[Violation]:
    """Replays the fills of each symbol in log order, as the position projector does (after an
    oversized sell it holds zero, so one bad sell is reported once, not again at every later
    fill as a running SQL sum would). One streamed query."""
    fills = Fill.objects.order_by("symbol", "id").values_list("symbol", "fill_id", "side", "qty")
    violations, total = [], 0
    for symbol, rows in groupby(fills.iterator(chunk_size=5000), key=itemgetter(0)):
        held = ZERO
        for _, fill_id, side, qty in rows:
            total += 1
            if side == "buy":
                held += qty
            elif qty > held:
                violations.append(Violation(SELL_EXCEEDS, fill_id, {"symbol": symbol, "qty": qty, "held": held}))
                held = ZERO
            else:
                held -= qty
    report.checked["fills"] = total
    return violations


# --- 4 and 5. positions = paper ledger = paper exchange; portfolio = ledger cash + marks -------


def _currencies(symbol: str) -> tuple[str, str]:
    """Base and quote, split as the ledger splits them (``wallets.services.fill_legs``)."""
    base, _, quote = symbol.upper().replace("/", "-").partition("-")
    return base, quote


def _paper_books_agree(report: BooksReport, *, fills: int) -> list[Violation]:
    wallet = paper_wallet_get(name=settings.PAPER_WALLET_NAME)
    if wallet is None:
        why = f"no paper wallet named {settings.PAPER_WALLET_NAME!r}"
        report.skipped[POSITIONS] = report.skipped[PORTFOLIO] = why
        return []
    positions = list(Position.objects.order_by("symbol").values_list("symbol", "qty", "mark_price"))
    ledger = defaultdict(Decimal, WalletBalance.objects.filter(wallet=wallet).values_list("currency", "amount"))
    venue = defaultdict(Decimal, PaperExchangeBalance.objects.filter(wallet=wallet).values_list("currency", "amount"))
    report.checked["positions"] = len(positions)

    held: dict[str, Decimal] = defaultdict(Decimal)
    marks: dict[str, Decimal] = {}
    quotes = {_currencies(symbol)[1] for symbol in settings.MARKET_SYMBOLS}
    for symbol, qty, mark in positions:
        base, quote = _currencies(symbol)
        held[base] += qty
        marks[base] = mark
        quotes.add(quote)

    violations = []
    for currency in sorted(set(held) | set(ledger) | set(venue)):
        if currency in quotes:
            if not _same(ledger[currency], venue[currency]):
                violations.append(
                    Violation(POSITIONS, currency, {"ledger": ledger[currency], "paper_exchange": venue[currency]})
                )
            continue
        if not (_same(held[currency], ledger[currency]) and _same(ledger[currency], venue[currency])):
            violations.append(
                Violation(
                    POSITIONS,
                    currency,
                    {"positions": held[currency], "ledger": ledger[currency], "paper_exchange": venue[currency]},
                )
            )

    portfolio = Portfolio.objects.filter(pk=1).first()
    cash = portfolio.cash if portfolio else Decimal(settings.PAPER_INITIAL_CASH)
    ledger_cash = sum((ledger[currency] for currency in quotes), ZERO)
    equity = cash + sum((qty * mark for _, qty, mark in positions), ZERO)
    ledger_equity = ledger_cash + sum((ledger[base] * mark for base, mark in marks.items()), ZERO)
    tolerance = ROUNDING_PER_FILL * fills
    for name, ours, theirs in (("cash", cash, ledger_cash), ("equity", equity, ledger_equity)):
        if not _same(ours, theirs, slack=tolerance):
            detail = {"portfolio": ours, "ledger": theirs, "difference": ours - theirs, "tolerance": tolerance}
            violations.append(Violation(PORTFOLIO, name, detail))
    return violations


# --- 6. the day's risk budget = the claims of the day ------------------------------------------


def _risk_budget_equals_claims(report: BooksReport) -> list[Violation]:
    """Each bucket of ``RiskBudgetDay`` equals the claims of that day in that state. ``consumed``
    (what the next claim is checked against) is claimed + used + released: risk that was used
    stays spent for the day after the position closes; only expired claims give it back."""
    statuses = RiskAllocation.Status.values
    # summed in Decimal here, not with SQL SUM(): SQLite (the embedded default) sums decimals as floats
    sums: dict = defaultdict(lambda: dict.fromkeys(statuses, ZERO))
    for day, status, amount in RiskAllocation.objects.values_list("day", "status", "amount").iterator(5000):
        sums[day][status] += amount
    days = {row.pop("day"): row for row in RiskBudgetDay.objects.values("day", *statuses)}
    report.checked["risk days"] = len(days)
    violations = []
    for day in sorted(set(sums) | set(days)):
        budget = days.get(day, dict.fromkeys(statuses, ZERO))
        claims = sums.get(day, dict.fromkeys(statuses, ZERO))
        wrong = [s for s in statuses if not _same(budget[s], claims[s])]
        if wrong:
            consumed = ("claimed", "used", "released")
            detail = {
                "consumed": sum((budget[s] for s in consumed), ZERO),
                "claims_not_expired": sum((claims[s] for s in consumed), ZERO),
            }
            for s in wrong:
                detail |= {f"{s}_budget_day": budget[s], f"{s}_claims": claims[s]}
            violations.append(Violation(RISK_BUDGET, day.isoformat(), detail))
    return violations


# --- The scheduled check -----------------------------------------------------------------------


def books_check_alert(*, check_id: str | None = None) -> BooksReport:
    """The hourly check: an ``agent_run`` says it ran (the Agents page shows when), and broken
    books raise a ``books_check_failed`` alert listing the violations. Clean books write no event
    of their own: an hourly "all fine" would bury the alerts in the event stream.

    ``check_id`` (the Celery task id) makes a redelivered task write nothing twice.
    """

    report = books_check()
    key = f"books:{check_id}" if check_id else None
    with transaction.atomic(durable=True):
        if not report.ok:
            emit(
                "books_check_failed",
                {
                    "violations": [asdict(v) for v in report.violations[:BOOKS_ALERT_MAX_VIOLATIONS]],
                    "total": len(report.violations),
                    "by_invariant": dict(Counter(v.invariant for v in report.violations)),
                    "summary": report.summary()[:2000],
                },
                source=SOURCE,
                dedupe_key=f"{key}:failed" if key else None,
            )
        emit(
            "agent_run",
            {"agent": "books", "status": "ok", "duration_ms": report.duration_ms},
            source=SOURCE,
            dedupe_key=f"{key}:agent_run" if key else None,
        )
    return report
