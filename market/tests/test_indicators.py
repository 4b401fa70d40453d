"""Indicators against references written independently as plain Python loops, on real SOL/USDT data.

The references follow the textbook definitions step by step (Wilder 1978 for RSI/ATR, Appel for MACD,
Bollinger's population standard deviation) without numpy, so a vectorisation slip shows up.
"""

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest

from market import indicators as ind

DATA = Path(__file__).resolve().parents[1] / "data" / "SOLUSDT-1h.csv"
TOL = 1e-9


@pytest.fixture(scope="module")
def sol():
    with DATA.open() as fh:
        rows = list(csv.DictReader(fh))
    cols = {k: np.array([float(r[k]) for r in rows]) for k in ("Open", "High", "Low", "Close")}
    return cols["Open"], cols["High"], cols["Low"], cols["Close"]


# --- plain-loop references ---------------------------------------------------------------------
def ref_sma(x, n):
    return [math.nan if i < n - 1 else math.fsum(x[i - n + 1 : i + 1]) / n for i in range(len(x))]


def ref_ema(x, n):
    out, alpha = [math.nan] * len(x), 2 / (n + 1)
    for i in range(len(x)):
        if i == n - 1:
            out[i] = math.fsum(x[:n]) / n
        elif i >= n:
            out[i] = alpha * x[i] + (1 - alpha) * out[i - 1]
    return out


def ref_rsi(x, n):
    out = [math.nan] * len(x)
    gains = [max(x[i] - x[i - 1], 0.0) for i in range(1, len(x))]
    losses = [max(x[i - 1] - x[i], 0.0) for i in range(1, len(x))]
    avg_gain = avg_loss = None
    for i in range(n, len(x)):
        if i == n:
            avg_gain, avg_loss = math.fsum(gains[:n]) / n, math.fsum(losses[:n]) / n
        else:
            avg_gain = (avg_gain * (n - 1) + gains[i - 1]) / n
            avg_loss = (avg_loss * (n - 1) + losses[i - 1]) / n
        out[i] = 100.0 if avg_loss == 0 else 100 - 100 / (1 + avg_gain / avg_loss)
    return out


def ref_atr(h, lo, c, n):
    tr = [math.nan] + [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(c))]
    out = [math.nan] * len(c)
    for i in range(n, len(c)):
        out[i] = math.fsum(tr[1 : n + 1]) / n if i == n else (out[i - 1] * (n - 1) + tr[i]) / n
    return out


def ref_bollinger(x, n, k):
    mid, up, low = [math.nan] * len(x), [math.nan] * len(x), [math.nan] * len(x)
    for i in range(n - 1, len(x)):
        window = x[i - n + 1 : i + 1]
        m = math.fsum(window) / n
        sd = math.sqrt(math.fsum((v - m) ** 2 for v in window) / n)
        mid[i], up[i], low[i] = m, m + k * sd, m - k * sd
    return mid, up, low


def assert_close(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), "warm-up NaNs differ"
    mask = ~np.isnan(expected)
    assert mask.any()
    np.testing.assert_allclose(actual[mask], expected[mask], rtol=0, atol=TOL)


# --- the checks ----------------------------------------------------------------------------------
@pytest.mark.parametrize("period", [1, 5, 20, 200])
def test_sma_matches_the_loop_reference(sol, period):
    close = sol[3]
    assert_close(ind.sma(close, period), ref_sma(close.tolist(), period))


@pytest.mark.parametrize("period", [2, 12, 26, 50])
def test_ema_matches_the_loop_reference(sol, period):
    close = sol[3]
    assert_close(ind.ema(close, period), ref_ema(close.tolist(), period))


@pytest.mark.parametrize("period", [2, 14, 30])
def test_rsi_matches_wilders_loop(sol, period):
    close = sol[3]
    assert_close(ind.rsi(close, period), ref_rsi(close.tolist(), period))


def test_rsi_matches_the_published_wilder_example():
    # The worked 14-period example from StockCharts' RSI article (values published to 2 decimals).
    closes = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61, 46.28]
    closes += [46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45, 45.78, 45.35, 44.03, 44.29]
    published = [70.46, 66.25, 66.48, 69.35, 66.29, 57.92, 62.88, 63.21, 56.01, 62.34, 54.67, 50.39, 40.02, 42.53]
    values = ind.rsi(np.array(closes), 14)
    assert np.isnan(values[:14]).all()
    np.testing.assert_allclose(values[14:], published, atol=0.005)


def test_macd_matches_ema_difference_and_signal_loop(sol):
    close = sol[3].tolist()
    line, signal, hist = ind.macd(sol[3], 12, 26, 9)
    ref_line = [a - b for a, b in zip(ref_ema(close, 12), ref_ema(close, 26), strict=True)]
    ref_signal = [math.nan] * 25 + ref_ema(ref_line[25:], 9)
    assert_close(line, ref_line)
    assert_close(signal, ref_signal)
    assert_close(hist, [a - b for a, b in zip(ref_line, ref_signal, strict=True)])
    assert ind.first_valid_index(ind.parse_spec("macd_12_26_9")) == 33
    assert np.isnan(signal[32])
    assert not np.isnan(signal[33])


@pytest.mark.parametrize("period", [1, 14])
def test_atr_matches_wilders_loop(sol, period):
    _, high, low, close = sol
    assert_close(ind.atr(high, low, close, period), ref_atr(high.tolist(), low.tolist(), close.tolist(), period))


def test_bollinger_uses_the_population_deviation(sol):
    close = sol[3]
    for actual, expected in zip(ind.bollinger(close, 20, 2.0), ref_bollinger(close.tolist(), 20, 2.0), strict=True):
        assert_close(actual, expected)


def test_rolling_high_and_low_match_window_max_and_min(sol):
    _, high, low, _ = sol
    h, lo = high.tolist(), low.tolist()
    assert_close(ind.rolling_high(high, 20), [math.nan] * 19 + [max(h[i - 19 : i + 1]) for i in range(19, len(h))])
    assert_close(ind.rolling_low(low, 20), [math.nan] * 19 + [min(lo[i - 19 : i + 1]) for i in range(19, len(lo))])


def test_small_textbook_values():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert ind.sma(x, 3)[2:].tolist() == [2.0, 3.0, 4.0]
    # EMA(3): alpha 0.5, seeded with mean(1,2,3)=2 -> 3, 4
    assert ind.ema(x, 3)[2:].tolist() == [2.0, 3.0, 4.0]
    assert ind.rsi(x, 2)[2:].tolist() == [100.0, 100.0, 100.0]
    assert ind.rsi(np.array([5.0, 5.0, 5.0, 5.0]), 2)[2:].tolist() == [50.0, 50.0]
    assert ind.rolling_high(x, 2)[1:].tolist() == [2.0, 3.0, 4.0, 5.0]


def test_short_input_is_all_warm_up_and_same_length():
    x = np.array([1.0, 2.0])
    for values in (ind.sma(x, 3), ind.ema(x, 3), ind.rsi(x, 2), ind.atr(x, x, x, 2), *ind.macd(x, 2, 3, 2)):
        assert len(values) == 2
        assert np.isnan(values).all()
    assert len(ind.rsi(np.array([]), 14)) == 0


def test_nan_input_poisons_the_windows_containing_it():
    x = np.arange(10, dtype=float)
    x[5] = np.nan
    assert np.isnan(ind.sma(x, 3)[5:8]).all()
    assert ind.sma(x, 3)[8] == 7.0


@pytest.mark.parametrize(
    ("text", "key", "columns"),
    [
        ("sma_20", "sma_20", ("sma_20",)),
        (" RSI_14 ", "rsi_14", ("rsi_14",)),
        ("macd_12_26_9", "macd_12_26_9", ("macd_12_26_9", "macd_12_26_9_signal", "macd_12_26_9_hist")),
        ("bb_20_2", "bb_20_2", ("bb_20_2_mid", "bb_20_2_upper", "bb_20_2_lower")),
        ("atr_14", "atr_14", ("atr_14",)),
        ("high_20", "high_20", ("high_20",)),
        ("low_20", "low_20", ("low_20",)),
        ("ema_50", "ema_50", ("ema_50",)),
    ],
)
def test_parse_spec_accepts_known_specs(text, key, columns):
    spec = ind.parse_spec(text)
    assert spec.key == key
    assert spec.columns == columns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sma_0", "'sma_0': period must be between 1 and 1000, got 0"),
        ("foo_3", "unknown indicator 'foo' in 'foo_3': known are atr, bb, ema, high, low, macd, rsi, sma"),
        ("sma", "'sma' is not an indicator spec"),
        ("sma_x", "'sma_x' is not an indicator spec"),
        ("macd_12_26", "'macd_12_26': macd takes 3 parameter(s) (fast, slow, signal), e.g. macd_12_26_9"),
        ("macd_26_12_9", "'macd_26_12_9': macd fast period must be shorter than the slow one"),
        ("rsi_5000", "'rsi_5000': period must be between 1 and 1000, got 5000"),
        ("sma_20_5", "'sma_20_5': sma takes 1 parameter(s) (period), e.g. sma_14"),
    ],
)
def test_parse_spec_refuses_bad_specs_with_a_clear_message(text, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        ind.parse_spec(text)


def test_parse_specs_splits_commas_and_drops_duplicates():
    assert [s.key for s in ind.parse_specs("sma_20,rsi_14,,sma_20")] == ["sma_20", "rsi_14"]


@pytest.mark.parametrize("text", ["sma_20", "ema_20", "rsi_14", "macd_12_26_9", "atr_14", "bb_20_2", "high_20"])
def test_warmup_bars_make_the_first_wanted_bar_equal_the_full_history_value(sol, text):
    spec = ind.parse_spec(text)
    o, h, lo, c = sol
    full = ind.compute(spec, o, h, lo, c)
    first_wanted = len(c) - 50
    start = first_wanted - ind.warmup_bars(spec)
    assert start > 0
    part = ind.compute(spec, o[start:], h[start:], lo[start:], c[start:])
    for column in spec.columns:
        np.testing.assert_allclose(part[column][-50:], full[column][-50:], rtol=0, atol=TOL)
        assert not np.isnan(part[column][-50:]).any()


def test_compute_returns_the_named_functions_output(sol):
    o, h, lo, c = sol
    out = ind.compute(ind.parse_spec("bb_20_2"), o, h, lo, c)
    mid, upper, lower = ind.bollinger(c, 20, 2.0)
    assert np.array_equal(out["bb_20_2_upper"], upper, equal_nan=True)
    assert np.array_equal(out["bb_20_2_lower"], lower, equal_nan=True)
    assert ind.compute(ind.parse_spec("low_5"), o, h, lo, c)["low_5"][10] == min(lo[6:11])
