"""Technical indicators over numpy arrays: pure functions, no Django, no pandas.

Every function takes numpy ``float64`` arrays (one value per bar, oldest first) and integer
periods, and returns arrays of the same length. Bars before an indicator is defined are ``NaN``
(the warm-up); a ``NaN`` input poisons the windows that contain it.

Functions (import them by name: ``from market.indicators import sma, rsi``):

==========================================  =====================================================
``sma(values, period)``                      simple moving average; first value at ``period - 1``
``ema(values, period)``                      exponential MA, ``alpha = 2 / (period + 1)``, seeded
                                             with the SMA of the first ``period`` values
``rsi(close, period=14)``                    Wilder's RSI (smoothing ``1 / period``, seeded with the
                                             mean gain/loss of the first ``period`` changes); first
                                             value at ``period``; 100 when there are no losses
``macd(close, fast=12, slow=26, signal=9)``  ``(line, signal, hist)``: line = ema(fast) - ema(slow),
                                             signal = ema(line, signal) over the defined part of
                                             line, hist = line - signal
``atr(high, low, close, period=14)``         Wilder's average true range; true range needs the
                                             previous close, so the first value is at ``period``
                                             (mean of the first ``period`` true ranges), as TA-Lib
``bollinger(close, period=20, k=2.0)``       ``(mid, upper, lower)``: SMA +/- k population std devs
``rolling_high(values, period)``             highest value of the last ``period`` bars
``rolling_low(values, period)``              lowest value of the last ``period`` bars
==========================================  =====================================================

Specs name an indicator and its parameters in one token, as the API and agents use them:
``sma_20``, ``ema_50``, ``rsi_14``, ``macd_12_26_9``, ``bb_20_2``, ``atr_14``, ``high_20``,
``low_20``. ``parse_spec("sma_20")`` returns an :class:`IndicatorSpec` or raises ``ValueError``
with a message fit for an API client (unknown name, wrong parameter count, ``sma_0``).

``compute(spec, open_, high, low, close, volume)`` evaluates one spec and returns a dict of
named output columns (``{"sma_20": arr}``, ``{"macd_12_26_9": line, "macd_12_26_9_signal": ...}``).

Warm-up: ``first_valid_index(spec)`` is the index of the first defined value.
``warmup_bars(spec)`` is how many bars of history to feed before the first bar you want, so that
its value equals the value computed over the whole history: exact for the windowed indicators
(SMA, Bollinger, high/low); for the recursive ones (EMA, RSI, ATR, MACD) it adds the bars after
which the seed's weight falls below ``1e-12`` (for ``ema_20`` about 280 bars).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "SPEC_NAMES",
    "IndicatorSpec",
    "atr",
    "bollinger",
    "compute",
    "ema",
    "first_valid_index",
    "macd",
    "parse_spec",
    "parse_specs",
    "rolling_high",
    "rolling_low",
    "rsi",
    "sma",
    "warmup_bars",
]

MAX_PERIOD = 1000
# Seed weight below which a recursive indicator counts as converged to the full-history value.
CONVERGENCE = 1e-12


def _as_array(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _check_period(period: int) -> int:
    if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 1:
        raise ValueError(f"period must be a positive integer, got {period!r}")
    return int(period)


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def sma(values, period: int) -> np.ndarray:
    """Simple moving average (cumulative-sum free, so no drift on long series)."""
    period = _check_period(period)
    x = _as_array(values)
    out = _nan(len(x))
    if len(x) >= period:
        out[period - 1 :] = sliding_window_view(x, period).mean(axis=1)
    return out


def _recursive(x: np.ndarray, start: int, seed: float, alpha: float) -> np.ndarray:
    """``out[start] = seed``; ``out[i] = out[i-1] + alpha * (x[i] - out[i-1])`` after it."""
    out = _nan(len(x))
    if start >= len(x):
        return out
    out[start] = seed
    prev = seed
    beta = 1.0 - alpha
    # A plain loop over floats: numpy has no first-order IIR filter, and this is ~50 ns a bar.
    values = x.tolist()
    result = out.tolist()
    for i in range(start + 1, len(values)):
        prev = beta * prev + alpha * values[i]
        result[i] = prev
    return np.array(result, dtype=np.float64)


def ema(values, period: int) -> np.ndarray:
    """Exponential moving average, seeded with the SMA of its first ``period`` values."""
    period = _check_period(period)
    x = _as_array(values)
    if len(x) < period:
        return _nan(len(x))
    return _recursive(x, period - 1, float(x[:period].mean()), 2.0 / (period + 1))


def _wilder(x: np.ndarray, period: int, first: int) -> np.ndarray:
    """Wilder smoothing of ``x[first:]``: seeded with the mean of its first ``period`` values."""
    if len(x) - first < period:
        return _nan(len(x))
    start = first + period - 1
    return _recursive(x, start, float(x[first : start + 1].mean()), 1.0 / period)


def rsi(close, period: int = 14) -> np.ndarray:
    """Wilder's relative strength index, 0..100."""
    period = _check_period(period)
    x = _as_array(close)
    n = len(x)
    if n <= period:
        return _nan(n)
    change = np.empty(n)
    change[0] = np.nan
    change[1:] = np.diff(x)
    gain = np.where(np.isnan(change), np.nan, np.where(change > 0, change, 0.0))
    loss = np.where(np.isnan(change), np.nan, np.where(change < 0, -change, 0.0))
    avg_gain = _wilder(gain, period, 1)
    avg_loss = _wilder(loss, period, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    # No losses in the window: RSI is 100 (and 50 for a flat window, by convention).
    flat = (avg_loss == 0) & (avg_gain == 0)
    out = np.where((avg_loss == 0) & ~flat, 100.0, out)
    out = np.where(flat, 50.0, out)
    return out


def macd(close, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD line, signal line and histogram."""
    fast, slow, signal = _check_period(fast), _check_period(slow), _check_period(signal)
    if fast >= slow:
        raise ValueError(f"macd fast period ({fast}) must be shorter than slow ({slow})")
    x = _as_array(close)
    line = ema(x, fast) - ema(x, slow)
    sig = _nan(len(x))
    first = slow - 1
    if len(x) > first:
        sig[first:] = ema(line[first:], signal)
    return line, sig, line - sig


def atr(high, low, close, period: int = 14) -> np.ndarray:
    """Wilder's average true range."""
    period = _check_period(period)
    h, lo, c = _as_array(high), _as_array(low), _as_array(close)
    n = len(c)
    if not (len(h) == len(lo) == n):
        raise ValueError("high, low and close must have the same length")
    tr = _nan(n)
    if n > 1:
        prev = c[:-1]
        tr[1:] = np.maximum(h[1:] - lo[1:], np.maximum(np.abs(h[1:] - prev), np.abs(lo[1:] - prev)))
    return _wilder(tr, period, 1)


def bollinger(close, period: int = 20, k: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger bands: (middle SMA, upper, lower), with the population standard deviation."""
    period = _check_period(period)
    x = _as_array(close)
    mid, std = _nan(len(x)), _nan(len(x))
    if len(x) >= period:
        windows = sliding_window_view(x, period)
        mid[period - 1 :] = windows.mean(axis=1)
        std[period - 1 :] = windows.std(axis=1)
    return mid, mid + k * std, mid - k * std


def rolling_high(values, period: int) -> np.ndarray:
    period = _check_period(period)
    x = _as_array(values)
    out = _nan(len(x))
    if len(x) >= period:
        out[period - 1 :] = sliding_window_view(x, period).max(axis=1)
    return out


def rolling_low(values, period: int) -> np.ndarray:
    period = _check_period(period)
    x = _as_array(values)
    out = _nan(len(x))
    if len(x) >= period:
        out[period - 1 :] = sliding_window_view(x, period).min(axis=1)
    return out


# --- Specs ---------------------------------------------------------------------------------------
# name -> (parameter names, defaults-free: every parameter must be given in the spec)
_SPEC_PARAMS: dict[str, tuple[str, ...]] = {
    "sma": ("period",),
    "ema": ("period",),
    "rsi": ("period",),
    "atr": ("period",),
    "high": ("period",),
    "low": ("period",),
    "macd": ("fast", "slow", "signal"),
    "bb": ("period", "k"),
}
SPEC_NAMES = tuple(sorted(_SPEC_PARAMS))
_SPEC_RE = re.compile(r"^([a-z]+)((?:_[0-9]+)+)$")


@dataclass(frozen=True)
class IndicatorSpec:
    """A parsed spec such as ``macd_12_26_9``: ``name="macd"``, ``params=(12, 26, 9)``."""

    name: str
    params: tuple[int, ...]

    @property
    def key(self) -> str:
        return "_".join([self.name, *map(str, self.params)])

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of the output columns :func:`compute` returns, in order."""
        if self.name == "macd":
            return (self.key, f"{self.key}_signal", f"{self.key}_hist")
        if self.name == "bb":
            return (f"{self.key}_mid", f"{self.key}_upper", f"{self.key}_lower")
        return (self.key,)

    def __str__(self) -> str:
        return self.key


def parse_spec(text: str) -> IndicatorSpec:
    """Parse ``sma_20``-style text; raise ``ValueError`` saying what is wrong."""
    raw = str(text).strip()
    match = _SPEC_RE.match(raw.lower())
    if not match:
        raise ValueError(
            f"'{raw}' is not an indicator spec: expected name_period like sma_20 (names: {', '.join(SPEC_NAMES)})"
        )
    name = match.group(1)
    if name not in _SPEC_PARAMS:
        raise ValueError(f"unknown indicator '{name}' in '{raw}': known are {', '.join(SPEC_NAMES)}")
    params = tuple(int(p) for p in match.group(2)[1:].split("_"))
    expected = _SPEC_PARAMS[name]
    if len(params) != len(expected):
        example = {"macd": "macd_12_26_9", "bb": "bb_20_2"}.get(name, f"{name}_14")
        raise ValueError(f"'{raw}': {name} takes {len(expected)} parameter(s) ({', '.join(expected)}), e.g. {example}")
    for label, value in zip(expected, params, strict=True):
        if value < 1 or value > MAX_PERIOD:
            raise ValueError(f"'{raw}': {label} must be between 1 and {MAX_PERIOD}, got {value}")
    if name == "macd" and params[0] >= params[1]:
        raise ValueError(f"'{raw}': macd fast period must be shorter than the slow one")
    return IndicatorSpec(name, params)


def parse_specs(texts) -> list[IndicatorSpec]:
    """Parse a comma-separated string or an iterable of specs; duplicates are dropped, order kept."""
    if isinstance(texts, str):
        texts = [t for t in texts.split(",") if t.strip()]
    seen: dict[str, IndicatorSpec] = {}
    for text in texts:
        spec = parse_spec(text)
        seen.setdefault(spec.key, spec)
    return list(seen.values())


def _converge_bars(alpha: float) -> int:
    """Bars after which a recursive filter's seed weight ``(1 - alpha) ** n`` is below CONVERGENCE."""
    if alpha >= 1.0:
        return 0
    return math.ceil(math.log(CONVERGENCE) / math.log(1.0 - alpha))


def first_valid_index(spec: IndicatorSpec) -> int:
    """Index of the first non-NaN value (with enough bars and no NaN input)."""
    name, p = spec.name, spec.params
    if name in ("sma", "ema", "high", "low", "bb"):
        return p[0] - 1
    if name in ("rsi", "atr"):
        return p[0]
    if name == "macd":
        return p[1] - 1 + p[2] - 1
    raise ValueError(f"unknown indicator {name}")


def warmup_bars(spec: IndicatorSpec) -> int:
    """Bars of history to prepend so the first wanted bar has its full-history value."""
    name, p = spec.name, spec.params
    if name in ("sma", "high", "low", "bb"):
        return p[0] - 1
    if name == "ema":
        return p[0] - 1 + _converge_bars(2.0 / (p[0] + 1))
    if name in ("rsi", "atr"):
        return p[0] + _converge_bars(1.0 / p[0])
    if name == "macd":
        # the signal line is seeded from early (not yet converged) MACD values: both must decay
        return p[1] - 1 + _converge_bars(2.0 / (p[1] + 1)) + p[2] - 1 + _converge_bars(2.0 / (p[2] + 1))
    raise ValueError(f"unknown indicator {name}")


def compute(spec: IndicatorSpec, open_, high, low, close, volume=None) -> dict[str, np.ndarray]:
    """Evaluate one spec over OHLC(V) arrays; returns ``{column name: array}``."""
    name, p = spec.name, spec.params
    if name == "sma":
        values = (sma(close, p[0]),)
    elif name == "ema":
        values = (ema(close, p[0]),)
    elif name == "rsi":
        values = (rsi(close, p[0]),)
    elif name == "atr":
        values = (atr(high, low, close, p[0]),)
    elif name == "high":
        values = (rolling_high(high, p[0]),)
    elif name == "low":
        values = (rolling_low(low, p[0]),)
    elif name == "macd":
        values = macd(close, *p)
    elif name == "bb":
        values = bollinger(close, p[0], float(p[1]))
    else:
        raise ValueError(f"unknown indicator {name}")
    return dict(zip(spec.columns, values, strict=True))
