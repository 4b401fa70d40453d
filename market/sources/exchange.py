"""Any exchange ccxt supports, over its public REST API (no keys): trades polled into ticks by the
feed, OHLCV pages for ``load_candles``. Network errors, timeouts and exchange error replies are
logged and counted; the feed keeps going and the next poll tries again.

Streaming: ccxt ships ``ccxt.pro`` (WebSocket ``watch_trades``) in the same package, but this source
polls REST only for now; a poll every ``poll_seconds`` is enough for 1m candles.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import ccxt

from market import timeframes
from market.rollup import Bar
from market.services import TickInput

logger = logging.getLogger(__name__)

# Per-exchange options: load only spot markets (one request instead of three on Binance).
CLIENT_OPTIONS = {"binance": {"fetchMarkets": {"types": ["spot"]}}}
OHLCV_PAGE = 1000
MAX_IDLE_STEP = 0.2


@dataclass(frozen=True)
class InstrumentRef:
    symbol: str  # ours: SOL-USDT
    exchange: str  # ccxt id: binance
    exchange_symbol: str  # ccxt market: SOL/USDT


def make_client(exchange_id: str, *, timeout_ms: int = 10_000) -> ccxt.Exchange:
    try:
        cls = getattr(ccxt, exchange_id)
    except AttributeError:
        raise ValueError(f"ccxt has no exchange '{exchange_id}'") from None
    return cls({"timeout": timeout_ms, "enableRateLimit": True, "options": CLIENT_OPTIONS.get(exchange_id, {})})


def _dec(value) -> Decimal:
    return Decimal(str(value))


class ExchangeSource:
    name = "exchange"

    def __init__(
        self,
        instruments: list[InstrumentRef],
        *,
        poll_seconds: float = 2.0,
        timeout_ms: int = 10_000,
        clients: dict[str, ccxt.Exchange] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.instruments = instruments
        self.poll_seconds = poll_seconds
        self.clients = clients if clients is not None else {}
        self.timeout_ms = timeout_ms
        self.clock = clock
        self.sleep = sleep
        self.errors = 0
        self.last_error = ""
        self._seen: dict[str, tuple[int, set[str]]] = {}  # symbol -> (last trade ms, ids at that ms)
        self._closed = False

    def client(self, exchange_id: str) -> ccxt.Exchange:
        if exchange_id not in self.clients:
            self.clients[exchange_id] = make_client(exchange_id, timeout_ms=self.timeout_ms)
        return self.clients[exchange_id]

    def poll(self, instrument: InstrumentRef) -> list[TickInput]:
        """New trades since the last poll, as ticks; [] after logging if the exchange fails."""
        last_ms, last_ids = self._seen.get(instrument.symbol, (None, set()))
        try:
            trades = self.client(instrument.exchange).fetch_trades(instrument.exchange_symbol, since=last_ms)
        except (ccxt.NetworkError, ccxt.ExchangeError) as exc:
            # NetworkError covers timeouts, 5xx and rate limits; ExchangeError the exchange's own
            # error replies. Both are worth another try on the next poll; neither stops the feed.
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            logger.warning("%s %s: poll failed (%s)", instrument.exchange, instrument.exchange_symbol, self.last_error)
            return []
        ticks = []
        for trade in sorted(trades, key=lambda t: (t["timestamp"], str(t["id"]))):
            ms, trade_id = trade["timestamp"], str(trade["id"])
            if last_ms is not None and (ms < last_ms or (ms == last_ms and trade_id in last_ids)):
                continue
            if last_ms is None or ms > last_ms:
                last_ms, last_ids = ms, set()
            last_ids.add(trade_id)
            ticks.append(
                TickInput(
                    instrument.symbol,
                    datetime.fromtimestamp(ms / 1000, tz=UTC),
                    _dec(trade["price"]),
                    _dec(trade["amount"]),
                )
            )
        if last_ms is not None:
            self._seen[instrument.symbol] = (last_ms, last_ids)
        return ticks

    def stream(self) -> Iterator[TickInput | None]:
        while not self._closed:
            started = self.clock()
            for instrument in self.instruments:
                yield from self.poll(instrument)
            yield None
            while not self._closed and (wait := started + self.poll_seconds - self.clock()) > 0:
                self.sleep(min(wait, MAX_IDLE_STEP))
                yield None

    def close(self) -> None:
        self._closed = True


def fetch_ohlcv_pages(
    client: ccxt.Exchange,
    instrument: InstrumentRef,
    timeframe: str,
    *,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
    retries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[list[Bar]]:
    """Closed candles in ``[start, end)``, a page at a time. Network errors are retried ``retries``
    times with backoff; an exchange error reply (bad symbol, bad timeframe) is raised at once."""
    now = now or datetime.now(tz=UTC)
    step_ms = int(timeframes.duration(timeframe).total_seconds() * 1000)
    since = int(start.timestamp() * 1000)
    end_ms = int(end.timestamp() * 1000)
    while since < end_ms:
        for attempt in range(retries + 1):
            try:
                page = client.fetch_ohlcv(instrument.exchange_symbol, timeframe, since=since, limit=OHLCV_PAGE)
                break
            except ccxt.NetworkError:
                if attempt == retries:
                    raise
                sleep(2**attempt)
        bars = []
        for ms, o, h, low, c, v in (row[:6] for row in page):
            open_time = datetime.fromtimestamp(ms / 1000, tz=UTC)
            if ms < since or ms >= end_ms or timeframes.bar_end(open_time, timeframe) > now:
                continue  # outside the range, or still forming
            bars.append(Bar(instrument.symbol, timeframe, open_time, _dec(o), _dec(h), _dec(low), _dec(c), _dec(v)))
        if not page:
            return
        if bars:
            yield bars
        last_ms = page[-1][0]
        if last_ms + step_ms <= since:
            return
        since = last_ms + step_ms
