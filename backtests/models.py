"""Backtest runs, their trades, blocks, equity curve (compact, chunked), daily reports, and sweeps.

The equity curve of a 1,000,000-bar run is not a million rows: it is stored as numpy arrays in
``bytea`` chunks of :data:`CURVE_CHUNK` bars (:class:`CurveChunk`), each carrying the portfolio
snapshot at its first bar, so ``/state?at=`` reads one chunk plus the trades since its start; and
an LTTB overview (:class:`CurveOverview`, at most :data:`OVERVIEW_POINTS` points) serves
``/equity?max_points=`` without touching the chunks. Written only by ``backtests.results``.
"""

import uuid

import numpy as np
from django.conf import settings
from django.db import models
from django.utils import timezone

from tradingops.fields import MoneyField, PriceField, QuantityField

CURVE_CHUNK = 2_000
OVERVIEW_POINTS = 10_000
DEFAULT_POINTS = 1_000  # /equity without max_points


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class Sweep(models.Model):
    """A parameter grid over one base config: one :class:`BacktestRun` per valid combination."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    base_config = models.JSONField()
    grid = models.JSONField(help_text="Preset parameter -> list of values.")
    metric = models.CharField(max_length=40, help_text="Results are ranked by this metric.")
    combinations = models.PositiveIntegerField(help_text="Combinations in the grid.")
    skipped = models.JSONField(default=list, help_text="Combinations refused by validation, with the reason.")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    base_run = models.ForeignKey(
        "BacktestRun",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="what_ifs",
        help_text="A what-if: the completed run it reruns with one risk limit changed (grid: risk.<rule>).",
    )
    rule = models.CharField(max_length=40, blank=True, default="", help_text="A what-if's risk limit.")

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["created_at", "id"], name="sweep_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.combinations} combinations)"


class BacktestRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    config = models.JSONField(help_text="The validated, normalised config (decimals as strings).")
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED)
    candles_total = models.PositiveBigIntegerField(default=0)
    candles_processed = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    error = models.TextField(blank=True, default="")
    results = models.JSONField(null=True, blank=True, help_text="Metrics, blocks by reason and class.")
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    sweep = models.ForeignKey(Sweep, null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    params = models.JSONField(default=dict, blank=True, help_text="The sweep combination this run is.")
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns")

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["created_at", "id"], name="backtestrun_created"),
            models.Index(fields=["status", "created_at"], name="backtestrun_status_created"),
            models.Index(fields=["status", "heartbeat_at"], name="backtestrun_status_heartbeat"),
            models.Index(fields=["sweep", "status"], name="backtestrun_sweep_status"),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.status}]"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def progress(self) -> float:
        return self.candles_processed / self.candles_total if self.candles_total else 0.0


class BacktestTrade(models.Model):
    """A closed round trip (entry fill -> exit fill)."""

    # Tens of thousands of rows per run, COPYed by backtests/results.py in the transaction that holds the
    # run's row locked (select_for_update): a database foreign key would add one referential check per
    # row at commit (0.1-0.4 s on 27,444 trades) for a reference that cannot dangle there. Deleting a
    # run still deletes its trades (Django's cascade). (run, seq) is the only index: each secondary one
    # (symbol/side, entry or exit time) cost the COPY ~0.1 s per 27,444 trades, and a filtered read scans
    # the run's rows through it in ~6 ms instead of <1 ms (bench/backtest.py; BENCHMARKS.md).
    run = models.ForeignKey(
        BacktestRun, on_delete=models.CASCADE, related_name="trades", db_constraint=False, db_index=False
    )
    seq = models.PositiveIntegerField()
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=5)  # long | short
    qty = QuantityField()
    entry_ts = models.DateTimeField()
    exit_ts = models.DateTimeField()
    entry_bar = models.PositiveIntegerField()
    exit_bar = models.PositiveIntegerField()
    entry_price = PriceField()
    exit_price = PriceField()
    entry_fee = MoneyField()
    exit_fee = MoneyField()
    pnl = MoneyField()
    exit_reason = models.CharField(max_length=20)  # exit | stop | target | end_of_data
    chain = models.PositiveIntegerField()

    class Meta:
        ordering = ("run", "seq")
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="backtesttrade_run_seq")]

    def __str__(self) -> str:
        return f"trade {self.seq} {self.side} {self.symbol}"


class BacktestBlock(models.Model):
    """A refused entry: the same reason taxonomy and numbers as live trading."""

    # no database foreign key nor run-only index, for BacktestTrade's reasons (a run can block every bar)
    run = models.ForeignKey(
        BacktestRun, on_delete=models.CASCADE, related_name="blocks", db_constraint=False, db_index=False
    )
    seq = models.PositiveIntegerField()
    ts = models.DateTimeField()
    bar = models.PositiveIntegerField()
    symbol = models.CharField(max_length=32)
    reason = models.CharField(max_length=40)
    reason_class = models.CharField(max_length=20)
    message = models.CharField(max_length=200)
    detail = models.JSONField(default=dict)
    chain = models.PositiveIntegerField()

    class Meta:
        ordering = ("run", "seq")
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="backtestblock_run_seq")]
        indexes = [
            models.Index(fields=["run", "reason", "seq"], name="backtestblock_run_reason"),
            models.Index(fields=["run", "reason_class", "seq"], name="backtestblock_run_class"),
            models.Index(fields=["run", "ts"], name="backtestblock_run_ts"),
        ]

    def __str__(self) -> str:
        return f"block {self.seq} {self.reason}"


class CurveChunk(models.Model):
    """``CURVE_CHUNK`` bars of the equity curve (open times, equity, close) and the portfolio at its first bar."""

    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="curve_chunks")
    seq = models.PositiveIntegerField()
    start_bar = models.PositiveIntegerField()
    start_ts = models.BigIntegerField(help_text="Open time of the first bar, epoch seconds.")
    end_ts = models.BigIntegerField(help_text="Open time of the last bar, epoch seconds.")
    ts = models.BinaryField(help_text="int64 epoch seconds, little-endian")
    equity = models.BinaryField(help_text="float64, marked at each bar's close")
    close = models.BinaryField(help_text="float64 closes")
    snapshot = models.JSONField(help_text="Portfolio before the chunk's first bar (engine floats).")

    class Meta:
        ordering = ("run", "seq")
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="curvechunk_run_seq")]
        indexes = [models.Index(fields=["run", "start_ts"], name="curvechunk_run_start")]

    def __str__(self) -> str:
        return f"curve chunk {self.seq}"

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.frombuffer(bytes(self.ts), dtype="<i8"),
            np.frombuffer(bytes(self.equity), dtype="<f8"),
            np.frombuffer(bytes(self.close), dtype="<f8"),
        )


class CurveOverview(models.Model):
    """At most ``OVERVIEW_POINTS`` LTTB-picked points of the whole curve, with the drawdown at each."""

    run = models.OneToOneField(BacktestRun, on_delete=models.CASCADE, primary_key=True, related_name="overview")
    points = models.PositiveIntegerField()
    bars = models.PositiveIntegerField(help_text="Length of the full curve.")
    ts = models.BinaryField()
    equity = models.BinaryField()
    drawdown = models.BinaryField()
    preview = models.BinaryField(
        default=b"", help_text="int32 positions in the overview of its DEFAULT_POINTS-point LTTB (the default GET)"
    )

    def __str__(self) -> str:
        return f"curve overview ({self.points} points)"

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.frombuffer(bytes(self.ts), dtype="<i8"),
            np.frombuffer(bytes(self.equity), dtype="<f8"),
            np.frombuffer(bytes(self.drawdown), dtype="<f8"),
        )


class DailyReport(models.Model):
    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="daily_reports")
    day = models.DateField()
    start_equity = MoneyField()
    end_equity = MoneyField()
    pnl = MoneyField()
    return_pct = models.FloatField()
    entries = models.PositiveIntegerField(help_text="Entry fills this day.")
    exits = models.PositiveIntegerField(help_text="Closed trades this day.")
    realized_pnl = MoneyField()
    fees = MoneyField()
    blocks = models.PositiveIntegerField()
    blocks_by_reason = models.JSONField(default=dict)
    risk_claimed = MoneyField(help_text="Risk claimed by the day's entry orders.")
    risk_used = models.FloatField(help_text="Risk claimed / the day's starting equity.")

    class Meta:
        ordering = ("run", "day")
        constraints = [models.UniqueConstraint(fields=["run", "day"], name="dailyreport_run_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.pnl}"
