"""Every read of the backtests app: runs, trades, blocks, daily reports, the curve, the state at a moment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
from django.db.models import Count, F, FloatField, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from . import metrics, portfolio
from .models import (
    DEFAULT_POINTS,
    BacktestBlock,
    BacktestRun,
    BacktestTrade,
    CurveChunk,
    CurveOverview,
    DailyReport,
    RunStatus,
    Sweep,
)


def run_list() -> QuerySet[BacktestRun]:
    return BacktestRun.objects.select_related("created_by")


def run_get(*, run_id) -> BacktestRun | None:
    return run_list().filter(pk=run_id).first()


def backtest_run_ids_among(run_ids: set[str]) -> dict[str, str]:
    """The event-stream run ids among ``run_ids`` that name a backtest (in any spelling of its UUID),
    each with why clients may not post into it (registered with ``events.types.reserve_run_ids``)."""
    spellings: dict[uuid.UUID, list[str]] = {}
    for run_id in run_ids:
        try:
            spellings.setdefault(uuid.UUID(run_id), []).append(run_id)
        except (ValueError, AttributeError, TypeError):
            continue
    if not spellings:
        return {}
    found = BacktestRun.objects.filter(pk__in=spellings).values_list("pk", flat=True)
    return {spelling: "a backtest" for pk in found for spelling in spellings[pk]}


def trade_list(*, run_id) -> QuerySet[BacktestTrade]:
    return BacktestTrade.objects.filter(run_id=run_id)


def block_list(*, run_id) -> QuerySet[BacktestBlock]:
    return BacktestBlock.objects.filter(run_id=run_id)


def block_counts(*, run_id, since=None, until=None, **equal) -> list[dict]:
    """The run's blocks counted by reason, class and symbol (the scorecard's ``blocks``)."""
    blocks = BacktestBlock.objects.filter(run_id=run_id, **equal)
    if since is not None:
        blocks = blocks.filter(ts__gte=since)
    if until is not None:
        blocks = blocks.filter(ts__lt=until)
    return list(blocks.values("reason", "reason_class", "symbol").annotate(blocks=Count("id")).order_by())


def daily_report_list(*, run_id) -> QuerySet[DailyReport]:
    return DailyReport.objects.filter(run_id=run_id)


def equity_curve(*, run_id, max_points: int) -> dict | None:
    """The curve downsampled (LTTB over the stored overview) to at most ``max_points`` points."""
    overview = CurveOverview.objects.filter(run_id=run_id).first()
    if overview is None:
        return None
    ts, equity, drawdown = overview.arrays()
    if max_points == DEFAULT_POINTS and overview.preview:  # computed when the run was written
        picked = np.frombuffer(bytes(overview.preview), dtype="<i4")
    else:
        picked = metrics.lttb(ts.astype(np.float64), equity, max_points)
    return {"bars": overview.bars, "ts": ts[picked], "equity": equity[picked], "drawdown": drawdown[picked]}


class StateError(ValueError):
    pass


def state_at(*, run: BacktestRun, at: datetime) -> dict:
    """The portfolio at the close of the curve bar containing ``at``: the snapshot stored at the start of
    that bar's chunk plus the fills since (one chunk and the trades touching the window; no replay)."""
    epoch = int(at.timestamp())
    chunk = (
        CurveChunk.objects.filter(run_id=run.pk, start_ts__lte=epoch)
        .order_by("-start_ts")
        .only("start_bar", "start_ts", "ts", "equity", "close", "snapshot")
        .first()
    )
    if chunk is None:
        raise StateError("before the run's first bar")
    results = run.results or {}
    symbols = results.get("symbols") or run.config["symbols"]
    ts, equity, close = chunk.arrays()
    close = close.reshape(len(ts), len(symbols))
    offset = int(np.searchsorted(ts, epoch, side="right")) - 1
    bar = chunk.start_bar + offset
    rows = (
        BacktestTrade.objects.filter(run_id=run.pk)
        .filter(
            Q(entry_bar__gte=chunk.start_bar, entry_bar__lte=bar) | Q(exit_bar__gte=chunk.start_bar, exit_bar__lte=bar)
        )
        .values_list(
            "symbol",
            "side",
            "qty",
            "entry_bar",
            "exit_bar",
            "entry_ts",
            "exit_ts",
            "entry_price",
            "exit_price",
            "entry_fee",
            "exit_fee",
            "pnl",
        )  # fmt: skip
    )
    fills = []
    for (
        sym,
        side,
        qty,
        entry_bar,
        exit_bar,
        entry_ts,
        exit_ts,
        entry_price,
        exit_price,
        entry_fee,
        exit_fee,
        pnl,
    ) in rows:
        if entry_bar >= chunk.start_bar:
            fills.append(
                portfolio.Fill(
                    entry_bar,
                    int(entry_ts.timestamp()),
                    sym,
                    "entry",
                    side,
                    float(qty),
                    float(entry_price),
                    float(entry_fee),
                )  # fmt: skip
            )
        if exit_bar <= bar:
            fills.append(
                portfolio.Fill(
                    exit_bar,
                    int(exit_ts.timestamp()),
                    sym,
                    "exit",
                    side,
                    float(qty),
                    float(exit_price),
                    float(exit_fee),
                    float(pnl),
                )  # fmt: skip
            )
    for pos in results.get("open_positions") or []:
        entry_ts = int(datetime.fromisoformat(pos["entry_ts"]).timestamp())
        if chunk.start_ts <= entry_ts <= int(ts[offset]):
            fills.append(
                portfolio.Fill(
                    bar,
                    entry_ts,
                    pos["symbol"],
                    "entry",
                    pos["side"],
                    float(pos["qty"]),
                    float(pos["entry_price"]),
                    float(pos["entry_fee"]),
                )  # fmt: skip
            )
    # the engine's order: by time, then plan symbol order; an entry (at the open) before a stop/target exit
    order = {sym: k for k, sym in enumerate(symbols)}
    fills.sort(key=lambda f: (f.ts, order[f.symbol], f.intent == "exit"))
    state = chunk.snapshot
    for fill in fills:
        state = portfolio.apply_fill(state, fill)
    out = portfolio.marked(state, {sym: float(close[offset, k]) for k, sym in enumerate(symbols)}, symbols)
    out["bar"] = bar
    out["bar_open_time"] = datetime.fromtimestamp(int(ts[offset]), tz=UTC)
    out["curve_equity"] = float(equity[offset])
    for pos in out["positions"]:
        pos["entry_ts"] = datetime.fromtimestamp(pos["entry_ts"], tz=UTC)
    return out


def runs_by_ids(ids: list) -> list[BacktestRun]:
    runs = {str(r.pk): r for r in BacktestRun.objects.filter(pk__in=ids)}
    return [runs[str(i)] for i in ids if str(i) in runs]


def sweep_list() -> QuerySet[Sweep]:
    return Sweep.objects.select_related("created_by").annotate(
        runs_total=Count("runs"),
        runs_finished=Count(
            "runs", filter=Q(runs__status__in=[RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED])
        ),  # fmt: skip
        runs_completed=Count("runs", filter=Q(runs__status=RunStatus.COMPLETED)),
    )


def sweep_get(*, sweep_id) -> Sweep | None:
    return sweep_list().filter(pk=sweep_id).first()


def sweep_ranked_runs(*, sweep_id, metric: str, descending: bool = True) -> QuerySet[BacktestRun]:
    """The sweep's runs ranked by a metric of their results (runs without it last)."""
    score = Cast(KeyTextTransform(metric, "results"), FloatField())
    order = F("score").desc(nulls_last=True) if descending else F("score").asc(nulls_last=True)
    return BacktestRun.objects.filter(sweep_id=sweep_id).annotate(score=score).order_by(order, "created_at", "id")


def candle_coverage(*, symbols: list[str] | None = None) -> dict[str, list[dict]]:
    """Per symbol, the timeframes that have candles with their first/last open time and count.

    What a backtest can run over: the form lists it beside each symbol. One query over the
    instruments, with, per timeframe, the first and last open time as ``ORDER BY ... LIMIT 1``
    subqueries (index probes of the (instrument, timeframe, open_time) key: a grouped scan of every
    candle took 0.25 s per page at 1M candles). The count is the span in bars (exact without gaps, as
    for a run's POST); timeframes of varying length (1M) are counted, they have few candles."""
    from django.db.models import OuterRef, Subquery

    from market import timeframes
    from market.models import Candle
    from market.models import Instrument as MarketInstrument

    qs = MarketInstrument.objects.all()
    if symbols is not None:
        qs = qs.filter(symbol__in=symbols)
    annotations = {}
    for k, tf in enumerate(timeframes.ALL):
        bars = Candle.objects.filter(instrument=OuterRef("pk"), timeframe=tf)
        annotations[f"first_{k}"] = Subquery(bars.order_by("open_time").values("open_time")[:1])
        annotations[f"last_{k}"] = Subquery(bars.order_by("-open_time").values("open_time")[:1])
        if tf not in timeframes.SECONDS:
            annotations[f"count_{k}"] = Subquery(
                bars.order_by().values("instrument").annotate(n=Count("id")).values("n")[:1]
            )
    out: dict[str, list[dict]] = {}
    for row in qs.order_by("symbol").annotate(**annotations).values("symbol", *annotations):
        for k, tf in enumerate(timeframes.ALL):
            first, last = row[f"first_{k}"], row[f"last_{k}"]
            if first is None:
                continue
            step = timeframes.SECONDS.get(tf)
            candles = int((last - first).total_seconds()) // step + 1 if step else row[f"count_{k}"]
            out.setdefault(row["symbol"], []).append(
                {"timeframe": tf, "first": first, "last": last, "candles": candles}
            )
    return out
