"""The hourly scorecard read model (BlockTally): the summary it serves equals the raw rows' for any
window and filter, it is rebuilt exactly from the log, and concurrent writers never lose an increment."""

import dataclasses
import importlib
import pathlib
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from agents import selectors
from agents.models import BlockEvent, BlockOutcome, BlockTally
from agents.scorecard import rollup
from events.services import EventDraft, emit, emit_many

from .shadows import OUTCOME as SHADOW_OUTCOME
from .test_block_outcomes import capped  # noqa: F401 - fixture
from .test_live_chain import feed_candles, fresh_engines, planned  # noqa: F401 - fixtures

T0 = datetime(2025, 3, 1, tzinfo=UTC)
REASONS = [("daily_trade_cap", "risk_valid"), ("cooldown", "quality_gate"), ("stale_market_data", "infra")]
SYMBOLS = ["SOL-USDT", "BTC-USDT", "ETH-USDT"]
RULES = ["crosses_above(sma_10, sma_20)", "close > sma_50", ""]


def _block_and_outcome(rng: random.Random, at: datetime, *, run_id: str, plan_id: str, shadow: bool) -> list:
    """A block recorded at ``at`` and (``shadow``) its outcome, whose ``blocked_at`` is a bar's time
    months before, as in a replay of history (``_seed`` links it to its block)."""
    reason, reason_class = rng.choice(REASONS)
    symbol = rng.choice(SYMBOLS)
    block_id = uuid.uuid4()
    corr = uuid.uuid4()
    bar = at - timedelta(days=rng.randint(100, 400), minutes=rng.randint(0, 59))
    block = EventDraft(
        "trade_blocked",
        {"symbol": symbol, "side": "buy", "reason": reason, "reason_class": reason_class, "plan_id": plan_id},
        source="test",
        run_id=run_id,
        correlation_id=corr,
        ts=at,
    )
    drafts = [block]
    if shadow:
        entry = Decimal("100") + Decimal(rng.randint(0, 1000)) / 100
        pnl = Decimal(rng.randint(-5000, 5000)) / 1000  # some exactly 0: neither saved nor forgone
        held = timedelta(minutes=rng.randint(1, 600))
        drafts.append(
            EventDraft(
                "block_outcome",
                {
                    "block_event_id": str(block_id),
                    "symbol": symbol,
                    "plan_id": plan_id,
                    "reason": reason,
                    "reason_class": reason_class,
                    "rule": rng.choice(RULES),
                    "position_side": "long",
                    "exit_reason": rng.choice(["stop", "target", "exit"]),
                    "qty": "1.5",
                    "blocked_at": bar.isoformat(),
                    "entry_at": bar.isoformat(),
                    "entry_price": str(entry),
                    "exit_at": (bar + held).isoformat(),
                    "exit_price": str(entry + pnl / Decimal("1.5")),
                    "fees": "0.01",
                    "pnl": str(pnl),
                    "pnl_pct": "0.1",
                    "mae": "0.2",
                    "mae_pct": "0.1",
                    "holding_s": int(held.total_seconds()),
                },
                source="test",
                run_id=run_id,
                correlation_id=corr,
                ts=at + held,
            )
        )
    return drafts


def _seed(n: int = 400, seed: int = 15) -> None:
    """``n`` blocks at random seconds over 60 hours, two runs, two plans; 3 in 4 followed by a shadow
    (its outcome caused by the block, recorded after all the blocks)."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        at = T0 + timedelta(seconds=rng.randint(0, 60 * 3600 - 1), microseconds=rng.choice([0, 250_000]))
        run_id, plan_id = rng.choice(["live", "replay-2"]), rng.choice(["p1", "p2"])
        pairs.append(_block_and_outcome(rng, at, run_id=run_id, plan_id=plan_id, shadow=rng.random() < 0.75))
    blocks = [event for start in range(0, n, 500) for event in emit_many([p[0] for p in pairs[start : start + 500]])]
    outcomes = [
        dataclasses.replace(
            pair[1],
            payload={**pair[1].payload, "block_event_id": str(block.event_id)},
            causation_id=block.event_id,
        )
        for pair, block in zip(pairs, blocks, strict=True)
        if len(pair) == 2
    ]
    for start in range(0, len(outcomes), 500):
        emit_many(outcomes[start : start + 500])


def _raw_summary(since: datetime, until: datetime, filters: dict) -> dict:
    """The scorecard straight from the raw rows, one group per row: the reference (an outcome at
    its block's time)."""
    outcomes = BlockOutcome.objects.filter(block_ts__gte=since, block_ts__lt=until, **filters)
    groups = [
        {
            "reason": o.reason,
            "reason_class": o.reason_class,
            "rule": o.rule,
            "symbol": o.symbol,
            "closed": 1,
            "hits": int(o.pnl < 0),
            "saved": -o.pnl if o.pnl < 0 else Decimal(0),
            "forgone": o.pnl if o.pnl > 0 else Decimal(0),
        }
        for o in outcomes
    ]
    blocks = []
    if "rule" not in filters:
        blocks = [
            {"reason": b.reason, "reason_class": b.reason_class, "symbol": b.symbol, "blocks": 1}
            for b in BlockEvent.objects.filter(ts__gte=since, ts__lt=until, **filters)
        ]
    return {"since": since, "until": until, **rollup(groups, blocks)}


WINDOWS = {
    "partial hours at both ends": (T0 + timedelta(minutes=17, seconds=3), T0 + timedelta(hours=26, minutes=41)),
    "a whole day, whole hours and partial hours": (
        T0 + timedelta(hours=2, minutes=13),
        T0 + timedelta(hours=50, minutes=20),
    ),
    "inside one hour": (T0 + timedelta(hours=5, minutes=10), T0 + timedelta(hours=5, minutes=50)),
    "across one hour mark only": (T0 + timedelta(hours=5, minutes=30), T0 + timedelta(hours=6, minutes=30)),
    "whole hours": (T0 + timedelta(hours=2), T0 + timedelta(hours=20)),
    "whole start, partial end": (T0 + timedelta(hours=2), T0 + timedelta(hours=20, microseconds=250_000)),
    "everything": (T0 - timedelta(days=1), T0 + timedelta(days=3)),
    "empty": (T0 + timedelta(hours=3), T0 + timedelta(hours=3)),
    "in another time zone": (
        (T0 + timedelta(hours=3, minutes=7)).astimezone(ZoneInfo("Asia/Kolkata")),  # +05:30: not UTC hours
        T0 + timedelta(hours=29),
    ),
}
FILTERS = [
    {},
    {"symbol": "BTC-USDT"},
    {"reason": "cooldown"},
    {"reason_class": "infra"},
    {"rule": "close > sma_50"},
    {"run_id": "replay-2"},
    {"plan_id": "p1"},
    {"symbol": "SOL-USDT", "reason": "daily_trade_cap", "run_id": "live"},
]


@pytest.mark.django_db
def test_the_summary_from_the_hours_equals_the_raw_rows_for_any_window_and_filter(django_assert_max_num_queries):
    _seed()
    assert BlockTally.objects.exists()
    for name, (since, until) in WINDOWS.items():
        for filters in FILTERS:
            with django_assert_max_num_queries(3):
                got = selectors.block_outcome_summary(since=since, until=until, filters=filters)
            expected = _raw_summary(since, until, filters)
            assert got == expected, (name, filters)
    whole = selectors.block_outcome_summary(since=T0, until=T0 + timedelta(days=3))["total"]
    assert whole["blocks"] == 400
    assert whole["closed"] == BlockOutcome.objects.count()  # every outcome at its block's time, not its bar's
    assert 0 < whole["closed"] < 400
    assert whole["saved"] > 0
    assert whole["forgone"] > 0


@pytest.mark.django_db
def test_the_summary_endpoint_answers_from_the_hours(client_for):
    _seed(120)
    since, until = WINDOWS["partial hours at both ends"]
    query = {"since": since.isoformat(), "until": until.isoformat(), "reason_class": "risk_valid"}
    data = client_for("viewer").get("/api/v1/live/block-outcomes/summary", query).data
    expected = _raw_summary(since, until, {"reason_class": "risk_valid"})
    assert data["total"]["blocks"] == expected["total"]["blocks"] > 0
    assert Decimal(data["total"]["net"]) == expected["total"]["net"]
    by_symbol = [(r["key"], r["closed"]) for r in expected["by_symbol"]]
    assert [(r["key"], r["closed"]) for r in data["by_symbol"]] == by_symbol


def _hours() -> list[tuple]:
    fields = ("span", "filter_on", "filter_value", "start", "run_id", "plan_id", "dimension", "key")
    return list(
        BlockTally.objects.order_by(*fields).values_list(*fields, "blocks", "closed", "hits", "saved", "forgone")
    )


def _unfiltered(span: str):
    """One row per block or outcome of every class: their sums are the totals."""
    return BlockTally.objects.filter(span=span, filter_on="", dimension="reason_class")


@pytest.mark.django_db
def test_rebuild_projections_gives_the_hours_incremental_projection_gave():
    _seed(200, seed=7)
    before = _hours()
    for span in ("hour", "day"):
        assert sum(t.blocks for t in _unfiltered(span)) == BlockEvent.objects.count() == 200
        assert sum(t.closed for t in _unfiltered(span)) == BlockOutcome.objects.count()
    call_command("rebuild_projections", "--no-progress", "--projector", "block_tallies")
    assert _hours() == before
    call_command("rebuild_projections", "--no-progress")
    assert _hours() == before


def test_the_hours_of_live_blocks_on_the_shipped_candles_match_their_outcomes(capped, sol_candles):  # noqa: F811
    feed_candles(sol_candles[200:500])
    assert BlockOutcome.objects.exists()
    before = _hours()
    everything = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    assert selectors.block_outcome_summary(since=everything[0], until=everything[1]) == _raw_summary(*everything, {})
    call_command("rebuild_projections", "--no-progress")
    assert _hours() == before


@pytest.mark.django_db(transaction=True)
def test_concurrent_projector_transactions_add_up():
    """Two transactions project blocks and outcomes of the same hour, rule and symbol at once: the
    second waits on the first's row (first insert and later increments alike) and adds to it."""
    assert connection.vendor == "postgresql"
    at = T0 + timedelta(minutes=5)

    def drafts(seed: int) -> list:
        rng = random.Random(seed)
        out = []
        for _ in range(20):
            out += _block_and_outcome(rng, at, run_id="live", plan_id="p1", shadow=True)
        return out

    batches = [drafts(1), drafts(2)]
    projected, release = threading.Event(), threading.Event()
    errors = []

    def first():
        try:
            with transaction.atomic():
                emit_many(batches[0])
                projected.set()
                release.wait(10)  # hold the rows' locks while the second transaction upserts
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            projected.set()
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert projected.wait(10)
        timer = threading.Timer(0.5, release.set)
        timer.start()
        emit_many(batches[1])  # blocks on the first's uncommitted rows until it commits
    finally:
        release.set()
        thread.join(20)
    assert not errors, errors
    pnls = [Decimal(d.payload["pnl"]) for batch in batches for d in batch if d.type == "block_outcome"]
    hours = _unfiltered("hour")
    assert sum(h.blocks for h in hours) == 40
    assert sum(h.closed for h in hours) == 40
    assert sum(h.hits for h in hours) == sum(1 for p in pnls if p < 0)
    assert sum(h.saved for h in hours) == -sum(p for p in pnls if p < 0)
    assert sum(h.forgone for h in hours) == sum(p for p in pnls if p > 0)

    def keys(batch) -> set:
        return {(d.payload["reason"], d.payload["symbol"]) for d in batch if d.type == "trade_blocked"}

    assert keys(batches[0]) & keys(batches[1]), "the two transactions added to the same rows"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["postgresql", "python"])
def test_the_migration_counts_projected_outcomes_at_their_blocks_time_as_the_projector_does(path):
    """Databases projected when outcomes were counted at their bar's time get their block's time
    from the log and the tallies refilled from their raw rows: in SQL on PostgreSQL, in Python on
    the embedded SQLite (run here on PostgreSQL by naming another vendor). An outcome whose block
    is not in the log keeps its bar's time, as the projector gives it."""
    _seed(150, seed=3)
    emit(
        "block_outcome",
        {**SHADOW_OUTCOME, "blocked_at": REPLAYED_BAR.isoformat(), "block_event_id": str(uuid.uuid4())},
        source="test",
        ts=T0,
    )
    before, block_times = _hours(), dict(BlockOutcome.objects.values_list("id", "block_ts"))
    assert BlockOutcome.objects.filter(block_ts=REPLAYED_BAR).count() == 1
    BlockOutcome.objects.update(block_ts=F("blocked_at"))  # where 0010 counted them
    BlockTally.objects.all().delete()
    (migration,) = pathlib.Path(__file__).parents[1].joinpath("migrations").glob("*_at_its_block_time.py")
    module = importlib.import_module(f"agents.migrations.{migration.stem}")
    if path == "postgresql":
        with connection.schema_editor() as editor:
            module.fill_block_times(apps, editor)
            module.refill_tallies(apps, editor)
    else:
        editor = SimpleNamespace(connection=SimpleNamespace(vendor="sqlite"))
        module.fill_block_times(apps, editor)
        module.refill_tallies(apps, editor)
    assert dict(BlockOutcome.objects.values_list("id", "block_ts")) == block_times
    assert _hours() == before


REPLAYED_BAR = datetime(2024, 9, 20, 12, 0, tzinfo=UTC)  # a shipped candle's time, as a replay blocks on it


def _replayed_block_and_outcome(*, blocked: datetime, closed: datetime, pnl: str = "-14.40856124"):
    """A block recorded at ``blocked`` on a historical bar, and its shadow's outcome recorded at
    ``closed``: the outcome's ``blocked_at`` is the bar's time, not when the system blocked."""
    block = emit(
        "trade_blocked",
        {"symbol": "SOL-USDT", "side": "buy", "reason": "daily_trade_cap", "reason_class": "risk_valid"},
        source="agent:execution",
        run_id="live",
        ts=blocked,
    )
    outcome = emit(
        "block_outcome",
        {
            **SHADOW_OUTCOME,
            "pnl": pnl,
            "blocked_at": REPLAYED_BAR.isoformat(),
            "block_event_id": str(block.event_id),
        },
        source="agent:execution",
        run_id="live",
        ts=closed,
        correlation_id=block.correlation_id,
        causation_id=block.event_id,
    )
    return block, outcome


@pytest.mark.django_db
def test_an_outcome_counts_in_the_window_of_its_block_not_of_its_bar(client_for):
    """A replay blocks on historical bars: the block is recorded now, its outcome's ``blocked_at`` is
    the bar's time. The scorecard of the window holding the block shows the block and its closed
    shadow, whether the window is whole days, whole hours or partial hours (read raw); the list of
    outcomes filtered on the same window holds it."""
    blocked = T0 + timedelta(hours=5, minutes=10)
    block, outcome = _replayed_block_and_outcome(blocked=blocked, closed=blocked + timedelta(hours=3))
    window = {"blocked_since": blocked.isoformat(), "blocked_until": (blocked + timedelta(minutes=1)).isoformat()}
    (listed,) = client_for("viewer").get("/api/v1/live/block-outcomes", window).data["results"]
    assert (listed["event_id"], listed["block_event_id"]) == (str(outcome.event_id), str(block.event_id))
    assert (listed["block_ts"], listed["blocked_at"]) == ("2025-03-01T05:10:00Z", "2024-09-20T12:00:00Z")
    windows = {
        "its whole hour": (T0 + timedelta(hours=5), T0 + timedelta(hours=6)),
        "its whole day": (T0, T0 + timedelta(days=1)),
        "whole hours and a whole day": (T0 - timedelta(hours=2), T0 + timedelta(days=1, hours=3)),
        "inside its hour": (T0 + timedelta(hours=5, minutes=5), T0 + timedelta(hours=5, minutes=40)),
        "partial hours around it": (T0 + timedelta(hours=4, minutes=30), T0 + timedelta(hours=5, minutes=30)),
    }

    def totals():
        got = {}
        for name, (since, until) in windows.items():
            total = selectors.block_outcome_summary(since=since, until=until)["total"]
            got[name] = (total["blocks"], total["closed"], total["hits"], total["saved"], total["forgone"])
        return got

    one_saved = (1, 1, 1, Decimal("14.40856124"), Decimal(0))
    assert totals() == dict.fromkeys(windows, one_saved)
    at_the_bar = selectors.block_outcome_summary(since=REPLAYED_BAR, until=REPLAYED_BAR + timedelta(days=1))
    assert (at_the_bar["total"]["blocks"], at_the_bar["total"]["closed"]) == (0, 0)
    before = _hours()
    call_command("rebuild_projections", "--no-progress")
    assert _hours() == before
    assert totals() == dict.fromkeys(windows, one_saved)


def test_the_last_24_hours_of_a_replay_show_its_blocks_and_their_closed_shadows(capped, sol_candles):  # noqa: F811
    """The demo replays shipped candles through the live path: the Overview's 24 h scorecard shows
    every block it recorded and every shadow of theirs that closed."""
    feed_candles(sol_candles[200:500])
    now = timezone.now()
    total = selectors.block_outcome_summary(since=now - timedelta(hours=24), until=now)["total"]
    assert total["closed"] == BlockOutcome.objects.count() > 0
    assert total["blocks"] == BlockEvent.objects.count()
