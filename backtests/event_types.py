"""Event types the backtests app writes, registered at ``BacktestsConfig.ready()``: what operators
asked (a run or a sweep started, a cancel; ``source`` names the user) and what the worker did (a
run's start and end).

A run's events carry ``correlation_id`` = the backtest's id (one chain: requested, started, finished)
and no ``run_id``: a run id makes a run summary, and /runs and the Overview list those as live
trading runs.
"""

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from events import formatting
from events.types import EventType, Payload, register

Text = Annotated[str, Field(max_length=5000)]


BacktestId = Annotated[str, Field(min_length=1, max_length=64)]


class BacktestRequestedPayload(Payload):
    backtest_id: BacktestId
    name: Annotated[str, Field(max_length=200)]
    symbols: list[Annotated[str, Field(max_length=32)]]
    timeframe: Annotated[str, Field(max_length=3)]
    candles: Annotated[int, Field(ge=0)]
    rerun_of: BacktestId | None = None


class BacktestSweepRequestedPayload(Payload):
    sweep_id: BacktestId
    name: Annotated[str, Field(max_length=200)]
    metric: Annotated[str, Field(max_length=40)]
    combinations: Annotated[int, Field(ge=0)]
    runs: Annotated[int, Field(ge=0)]
    skipped: Annotated[int, Field(ge=0)]


class BacktestCancelRequestedPayload(Payload):
    backtest_id: BacktestId
    status: Literal["queued", "running"] = Field(description="The run's status when the cancel was asked.")


class BacktestStartedPayload(Payload):
    backtest_id: Annotated[str, Field(min_length=1, max_length=64)]
    name: Annotated[str, Field(max_length=200)]
    symbols: list[Annotated[str, Field(max_length=32)]]
    timeframe: Annotated[str, Field(max_length=3)]
    candles: Annotated[int, Field(ge=0)]
    worker: Annotated[str, Field(max_length=200)]


class BacktestFinishedPayload(Payload):
    backtest_id: Annotated[str, Field(min_length=1, max_length=64)]
    status: Literal["completed", "failed", "cancelled"]
    error: Text = ""
    candles_processed: Annotated[int, Field(ge=0)]
    trades: Annotated[int, Field(ge=0)] | None = None
    blocks: Annotated[int, Field(ge=0)] | None = None
    total_return: float | None = None
    final_equity: Decimal | None = None


def _started_summary(p: dict) -> str:
    return (
        f"Backtest {p['name'] or p['backtest_id']} started: {', '.join(p['symbols'])} {p['timeframe']}, "
        f"{formatting.number(p['candles'])} candles"
    )


def _finished_summary(p: dict) -> str:
    text = f"Backtest {p['backtest_id']} {p['status']}: {formatting.number(p['candles_processed'])} candles"
    if p.get("trades") is not None:
        text += f", {p['trades']} trades"
    if p.get("total_return") is not None:
        text += f", return {formatting.pct(p['total_return'], sign=True)}"
    return text + (f": {p['error']}" if p.get("error") else "")


def register_all() -> None:
    register(
        EventType(
            "backtest_requested",
            BacktestRequestedPayload,
            description="A person (or the system) started a backtest run; it waits for a worker.",
            summary=lambda p: (
                f"Backtest {p['name'] or p['backtest_id']} requested: {', '.join(p['symbols'])} {p['timeframe']}, "
                f"{formatting.number(p['candles'])} candles"
            ),
        )
    )
    register(
        EventType(
            "backtest_sweep_requested",
            BacktestSweepRequestedPayload,
            description="A person (or the system) started a parameter sweep: one backtest run per valid combination.",
            summary=lambda p: (
                f"Sweep {p['name']} requested: {p['runs']} runs ({p['skipped']} of {p['combinations']} "
                f"combinations skipped), ranked by {p['metric']}"
            ),
        )
    )
    register(
        EventType(
            "backtest_cancel_requested",
            BacktestCancelRequestedPayload,
            description="A person asked to cancel a queued or running backtest run.",
            summary=lambda p: f"Cancel of backtest {p['backtest_id']} requested (it was {p['status']})",
        )
    )
    register(
        EventType(
            "backtest_started",
            BacktestStartedPayload,
            description="A backtest run started on a worker.",
            summary=_started_summary,
        )
    )
    register(
        EventType(
            "backtest_finished",
            BacktestFinishedPayload,
            description="A backtest run completed, failed or was cancelled.",
            summary=_finished_summary,
        )
    )
