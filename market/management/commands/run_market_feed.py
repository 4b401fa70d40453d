import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from market import selectors
from market.feed import MarketFeed
from market.sources import build_source

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Stream the configured market source (MARKET_SOURCE): store ticks, roll them into 1m and higher "
        "candles, publish to WebSocket groups and signal each closed candle to the agents' hook."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", choices=("replay", "synthetic", "exchange"), help="Default: MARKET_SOURCE.")
        parser.add_argument("--symbols", help="Comma-separated, default: MARKET_SYMBOLS.")
        parser.add_argument("--speed", type=float, help="Replay speed in market seconds per second (0: flat out).")
        parser.add_argument("--max-updates", type=int, help="Stop after this many ticks/candles (default: run on).")
        parser.add_argument("--no-publish", action="store_true", help="Store only; do not publish to WebSocket groups.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress counter.")

    def handle(self, *args, **opts):
        name = opts["source"] or settings.MARKET_SOURCE
        symbols = [s.strip() for s in (opts["symbols"] or "").split(",") if s.strip()] or list(settings.MARKET_SYMBOLS)
        ids = selectors.instrument_ids(symbols=symbols)
        missing = sorted(set(symbols) - set(ids))
        if missing:
            raise CommandError(f"Unknown symbol(s): {', '.join(missing)}. Add them in the admin first.")
        try:
            source = build_source(name, symbols=symbols)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if opts["speed"] is not None and hasattr(source, "speed"):
            source.speed = opts["speed"]
        feed = MarketFeed(
            source,
            instrument_ids=ids,
            flush_seconds=settings.MARKET_FEED_FLUSH_SECONDS,
            publish=not opts["no_publish"],
        )
        bar = tqdm(unit="upd", disable=opts["no_progress"], file=self.stderr, desc=f"{name} {','.join(symbols)}")
        try:
            stats = feed.run(max_updates=opts["max_updates"], on_progress=bar.update)
        except KeyboardInterrupt:
            stats = feed.stats
        finally:
            bar.close()
            source.close()
        self.stdout.write(
            f"{name}: {stats.ticks} tick(s), {stats.bars_in} candle(s) in, {stats.closed} closed, "
            f"{stats.rejected} rejected, {stats.flushes} flush(es), {stats.published} frame(s) published."
        )
