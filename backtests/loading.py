"""Candles out of the database as the engine's float arrays, with a heartbeat/cancel check between
queries: through market's columnar cache on PostgreSQL (a few byte strings per 16,384 candles), from
the rows elsewhere. Decimal stays the record of truth; the floats are its float8 copies."""

from __future__ import annotations

from agents.engine import Bars
from market import timeframes
from market.columnar import candle_columns

from . import config as cfg

DAY = 86_400


def load_bars(config: dict, instrument_id: int, warmup: int, progress) -> tuple[Bars, int]:
    """The run's candles as float64 arrays, plus up to ``warmup`` bars before the range's start for the
    indicators. Returns the bars and how many of them are warm-up."""
    timeframe = config["timeframe"]
    columns, warm = candle_columns(
        instrument_id=instrument_id,
        timeframe=timeframe,
        start=cfg.parse_time(config["start"]),
        end=cfg.parse_time(config["end"]),
        before=warmup,
        progress=lambda: progress(0),  # heartbeat + cancel check between queries
    )
    step = timeframes.SECONDS.get(timeframe, 31 * DAY)
    return Bars(columns.ts, *columns.values(), step), warm
