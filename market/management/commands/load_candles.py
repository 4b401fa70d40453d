import time
from datetime import UTC, datetime

import ccxt
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from market import files, selectors, services, timeframes
from market.feed import bar_problem
from market.sources.exchange import InstrumentRef, fetch_ohlcv_pages, make_client
from market.sources.replay import DATASETS
from tradingops.errors import AppError

SHOWN = 10


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    value = parse_datetime(text) or (parse_date(text) and datetime.fromisoformat(text))
    if not value:
        raise CommandError(f"'{text}' is not a date or ISO time")
    return services.as_utc(value)


class Command(BaseCommand):
    help = (
        "Load candles for one symbol and timeframe from a CSV/Parquet file (default: the shipped file for the "
        "symbol) or from an exchange. Idempotent upserts; a rerun resumes after what is stored. A bad row stops "
        "the load naming its line, with nothing written (or --skip-bad); gaps in time are reported."
    )

    def add_arguments(self, parser):
        parser.add_argument("symbol", help="Instrument symbol, e.g. SOL-USDT.")
        parser.add_argument("--timeframe", help=f"One of {', '.join(timeframes.ALL)} (default: the shipped file's).")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--file", help="CSV or Parquet file.")
        source.add_argument(
            "--exchange", nargs="?", const="", help="Fetch from a ccxt exchange (default: the instrument's)."
        )
        parser.add_argument("--start", help="First open time to load (inclusive), ISO date/time, UTC.")
        parser.add_argument("--end", help="Load bars opening before this (exclusive), ISO date/time, UTC.")
        parser.add_argument(
            "--skip-bad", action="store_true", help="Skip bad rows (and say how many) instead of stopping."
        )
        parser.add_argument("--no-resume", action="store_true", help="Re-upsert every row, even those already stored.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
        create = parser.add_argument_group("a new instrument (--create): every number given, nothing guessed")
        create.add_argument("--create", action="store_true", help="Create the instrument if it does not exist.")
        create.add_argument("--quote", help="Quote currency, e.g. USDT (required with --create).")
        create.add_argument("--base", help="Base currency (default: the symbol without its quote).")
        create.add_argument("--tick-size", help="Price increment, e.g. 0.0000001 (required with --create).")
        create.add_argument("--lot-size", help="Quantity increment, e.g. 1 (required with --create).")
        create.add_argument("--min-notional", default="0", help="Smallest order value in the quote (default 0).")

    def handle(self, *args, **opts):
        instrument = selectors.instrument_get(symbol=opts["symbol"])
        if instrument is None and opts["create"]:
            instrument = self._create(opts)
        elif instrument is None:
            raise CommandError(
                f"Unknown symbol '{opts['symbol']}'. Create it here with --create --quote Q --tick-size T "
                "--lot-size L, "
                "or POST /api/v1/market/instruments, or add it in the admin."
            )
        start, end = _when(opts["start"]), _when(opts["end"])
        if start and end and start >= end:
            raise CommandError("--start must be before --end")
        if opts["exchange"] is not None:
            timeframe = opts["timeframe"] or "1h"
            self._check_timeframe(timeframe)
            return self._from_exchange(instrument, timeframe, opts["exchange"] or instrument.exchange, start, end, opts)
        path, timeframe = opts["file"], opts["timeframe"]
        if path is None:
            if instrument.symbol not in DATASETS:
                raise CommandError(f"No shipped file for {instrument.symbol}: pass --file or --exchange.")
            path, shipped_timeframe = DATASETS[instrument.symbol]
            timeframe = timeframe or shipped_timeframe
        if not timeframe:
            raise CommandError("--timeframe is required with --file")
        self._check_timeframe(timeframe)
        return self._from_file(instrument, timeframe, path, start, end, opts)

    def _create(self, opts):
        needed = (("--quote", "quote"), ("--tick-size", "tick_size"), ("--lot-size", "lot_size"))
        missing = [flag for flag, key in needed if not opts[key]]
        if missing:
            raise CommandError(f"--create needs {', '.join(missing)}: a new instrument's numbers are never guessed.")
        try:
            instrument = services.instrument_create(
                symbol=opts["symbol"], quote=opts["quote"], base=opts["base"], price_tick=opts["tick_size"],
                lot_size=opts["lot_size"], min_notional=opts["min_notional"],
            )  # fmt: skip
        except AppError as exc:
            flags = {"price_tick": "--tick-size", "lot_size": "--lot-size", "min_notional": "--min-notional"}
            raise CommandError(
                "; ".join(
                    f"{flags.get(k, '--' + k.replace('_', '-'))}: {' '.join(map(str, v))}"
                    for k, v in exc.detail.items()
                )  # fmt: skip
            ) from None
        self.stdout.write(
            f"created {instrument.symbol}: base {instrument.base}, quote {instrument.quote}, "
            f"tick {instrument.price_tick}, lot {instrument.lot_size}, min notional {instrument.min_notional}"
        )
        return instrument

    @staticmethod
    def _check_timeframe(timeframe: str) -> None:
        try:
            timeframes.validate(timeframe)
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    def _from_file(self, instrument, timeframe, path, start, end, opts):
        began = time.perf_counter()
        bar = tqdm(unit="row", disable=opts["no_progress"], file=self.stderr, desc=f"{instrument.symbol} {timeframe}")
        try:
            report = services.candles_load_file(
                instrument=instrument,
                timeframe=timeframe,
                path=path,
                start=start,
                end=end,
                skip_bad=opts["skip_bad"],
                resume=not opts["no_resume"],
                progress=bar.update,
                on_total=lambda n: setattr(bar, "total", n),
            )
        except (services.CandleLoadError, OSError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        seconds = time.perf_counter() - began
        self._report_problems(report.skipped_bad, report.gaps)
        rate = report.loaded / seconds if seconds else 0
        self.stdout.write(
            f"{instrument.symbol} {timeframe}: {report.loaded} row(s) upserted, {report.already_loaded} already "
            f"stored (resumed), {len(report.skipped_bad)} bad row(s) skipped, {report.out_of_range} outside the "
            f"range, {len(report.gaps)} gap(s); {seconds:.1f} s, {rate:,.0f} rows/s."
        )

    def _report_problems(self, bad: list[files.BadRow], gaps: list[files.Gap]) -> None:
        for row in bad[:SHOWN]:
            self.stderr.write(f"skipped {row}")
        if len(bad) > SHOWN:
            self.stderr.write(f"... and {len(bad) - SHOWN} more bad row(s)")
        for gap in gaps[:SHOWN]:
            self.stderr.write(f"gap: {gap}")
        if len(gaps) > SHOWN:
            self.stderr.write(f"... and {len(gaps) - SHOWN} more gap(s)")

    def _from_exchange(self, instrument, timeframe, exchange_id, start, end, opts):

        if not instrument.exchange_symbol:
            raise CommandError(f"{instrument.symbol} has no exchange_symbol: set it in the admin.")
        now = datetime.now(UTC)
        end = end or now
        start = start or end - timeframes.duration(timeframe) * 1000
        ref = InstrumentRef(instrument.symbol, exchange_id, instrument.exchange_symbol)
        if not opts["no_resume"]:
            # Resume: re-fetch from the newest stored bar in the range.
            start = (
                selectors.candle_last_open_time(instrument_id=instrument.pk, timeframe=timeframe, start=start, end=end)
                or start
            )
        total = max(int((end - start) / timeframes.duration(timeframe)), 0)
        bar = tqdm(total=total, unit="bar", disable=opts["no_progress"], file=self.stderr, desc=f"{ref.exchange}")
        stored, rejected, gaps = 0, [], []
        previous = None
        try:
            client = make_client(exchange_id)
            for page in fetch_ohlcv_pages(client, ref, timeframe, start=start, end=end, now=now):
                good = []
                for candle in page:
                    if problem := bar_problem(candle):
                        rejected.append(files.BadRow(0, f"{candle.open_time:%Y-%m-%d %H:%M}: {problem}"))
                        continue
                    if previous is not None and candle.open_time > timeframes.bar_end(previous, timeframe):
                        missing = int((candle.open_time - previous) / timeframes.duration(timeframe)) - 1
                        gaps.append(files.Gap(previous, candle.open_time, missing))
                    previous = candle.open_time
                    good.append(candle)
                services.candles_store(instrument_ids={instrument.symbol: instrument.pk}, bars=good)
                stored += len(good)
                bar.update(len(page))
        except (ccxt.BaseError, ValueError) as exc:
            raise CommandError(
                f"{exchange_id}: {type(exc).__name__}: {exc} ({stored} bar(s) stored; rerun resumes)"
            ) from None
        finally:
            bar.close()
        self._report_problems(rejected, gaps)
        self.stdout.write(
            f"{instrument.symbol} {timeframe} from {exchange_id}: {stored} bar(s) upserted, "
            f"{len(rejected)} rejected, {len(gaps)} gap(s)."
        )
