"""``/ws/market/?symbols=BTC-USD,ETH-USD``: ticks and candle updates of those instruments, live.

Frames: ``{"type": "subscribed", "symbols": [...]}`` once, then ``{"type": "market", "symbol": ...,
"ticks": [...], "candles": [...]}`` per feed batch (candles carry ``closed``). History comes from
``/api/v1/market/candles``; a client opens the socket first, then fetches, and drops candles it
already has by ``open_time``. No ``symbols``: every active instrument.
"""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from events import realtime
from tradingops.roles import Role, has_role

from . import selectors

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_BAD_SUBSCRIPTION = 4400


def _known_symbols(wanted: list[str]) -> list[str]:
    if not wanted:
        return sorted(selectors.instrument_ids(symbols=None, active_only=True))
    return sorted(selectors.instrument_ids(symbols=wanted))


class MarketStreamConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str]

    async def connect(self):
        self.groups_joined = []
        user = self.scope.get("user")
        # Accept first so that the close code reaches the client (a close before accept is a 403).
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.send_json({"type": "error", "code": CLOSE_UNAUTHENTICATED, "detail": "Log in first."})
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(has_role)(user, Role.VIEWER):
            await self.send_json({"type": "error", "code": CLOSE_FORBIDDEN, "detail": "No role grants reading."})
            await self.close(code=CLOSE_FORBIDDEN)
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
