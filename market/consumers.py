"""``/ws/market/?symbols=BTC-USD,ETH-USD``: ticks and candle updates of those instruments, live.

Frames: ``{"type": "subscribed", "symbols": [...]}`` once, then ``{"type": "market", "symbol": ...,
"ticks": [...], "candles": [...]}`` per feed batch (candles carry ``closed``). History comes from
``/api/v1/market/candles``; a client opens the socket first, then fetches, and drops candles it
already has by ``open_time``. No ``symbols``: every active instrument.
"""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async

from events import realtime
from tradingops.consumers import (  # noqa: F401 - the close codes are part of this module's interface
    CLOSE_BAD_SUBSCRIPTION,
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    RoleRequiredConsumer,
)

from . import selectors


def _known_symbols(wanted: list[str]) -> list[str]:
    if not wanted:
        return sorted(selectors.instrument_ids(symbols=None, active_only=True))
    return sorted(selectors.instrument_ids(symbols=wanted))


class MarketStreamConsumer(RoleRequiredConsumer):
    groups_joined: list[str]

    async def connect(self):
        self.groups_joined = []
        if not await self.accept_if_allowed():
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        wanted = sorted({s.strip() for value in query.get("symbols", []) for s in value.split(",") if s.strip()})
        known = await database_sync_to_async(_known_symbols)(wanted)
        unknown = sorted(set(wanted) - set(known))
        if unknown:
            await self.send_json(
                {
                    "type": "error",
                    "code": CLOSE_BAD_SUBSCRIPTION,
                    "errors": {"symbols": [f"Unknown symbols: {', '.join(unknown)}."]},
                }
            )
            await self.close(code=CLOSE_BAD_SUBSCRIPTION)
            return
        self.groups_joined = [realtime.market_symbol_group(s) for s in known]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.send_json({"type": "subscribed", "symbols": known})

    async def disconnect(self, code):
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def market_update(self, message):
        await self.send_json(
            {"type": "market", "symbol": message["symbol"], "ticks": message["ticks"], "candles": message["candles"]}
        )
