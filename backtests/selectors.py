"""Every read of the backtests app: runs, trades, blocks, daily reports, the curve, the state at a moment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
from django.db.models import Count, F, FloatField, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from . import metrics, portfolio
from .models import (
    DEFAULT_POINTS,
    FINISHED,
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


WHAT_IF_CHANGES = ("final_equity", "return_pct", "trades", "blocks", "closed", "saved", "forgone", "net")


def _what_if_row(results: dict | None) -> dict | None:
    """A run's equity beside its blocks scorecard (amounts as decimal strings); None until completed."""
    if not results:
        return None
    card = (results.get("block_scorecard") or {}).get("total") or {}

    def amount(value) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    return {
        "final_equity": amount(results.get("final_equity")),
        "return_pct": (Decimal(repr(results["total_return"])) * 100).quantize(Decimal("0.0001"))
        if results.get("total_return") is not None
        else None,
        "trades": results.get("trades"),
        "blocks": results.get("blocks"),
        "closed": card.get("closed"),
        "hits": card.get("hits"),
        "saved": amount(card.get("saved")),
        "forgone": amount(card.get("forgone")),
        "net": amount(card.get("net")),
        "hit_rate": amount(card.get("hit_rate")),
    }


def _as_json(row: dict | None) -> dict | None:
    return None if row is None else {k: str(v) if isinstance(v, Decimal) else v for k, v in row.items()}


def what_if_table(*, sweep: Sweep) -> dict:
    """A what-if (a sweep over one risk limit of a base run): per value, the run's equity and blocks
    scorecard and, once completed, their change from the base run (``change``; ``None`` where the
    base or the value has no such figure). Runs in the order of the values asked."""
    base_run = sweep.base_run
    base = _what_if_row(base_run.results if base_run else None)
    runs = {next(iter(r.params.values()), None): r for r in sweep.runs.all() if r.params}
    rows = []
    for value in next(iter(sweep.grid.values()), []):
        run = runs.get(value)
        row = _what_if_row(run.results if run is not None and run.status == RunStatus.COMPLETED else None)
        change = None
        if row is not None and base is not None:
            change = {k: None if row[k] is None or base[k] is None else row[k] - base[k] for k in WHAT_IF_CHANGES}
        rows.append(
            {
                "value": value,
                "run_id": str(run.pk) if run else None,
                "status": run.status if run else None,
                "error": (run.error or None) if run else None,
                **(_as_json(row) or {}),
                "change": _as_json(change),
            }
        )
    base_value = ((base_run.config if base_run else sweep.base_config).get("risk") or {}).get(sweep.rule)
    return {
        "id": str(sweep.pk),
        "rule": sweep.rule,
        "base_run_id": str(base_run.pk) if base_run else None,
        "created_at": sweep.created_at,
        "finished": all(r["status"] in FINISHED for r in rows),
        "base": {"value": base_value, **(_as_json(base) or {})},
        "runs": rows,
    }


def what_if_list(*, run_id, limit: int = 10) -> list[dict]:
    """The run's what-ifs, newest first, each as :func:`what_if_table` (two queries)."""
    sweeps = Sweep.objects.filter(base_run_id=run_id).select_related("base_run").order_by("-created_at", "-id")
    return [what_if_table(sweep=sweep) for sweep in sweeps.prefetch_related("runs")[:limit]]


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
