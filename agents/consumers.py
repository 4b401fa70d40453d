"""``/ws/live/``: fills, orders, positions, blocks, and portfolio and risk-budget updates.

The trading events come as the event stream's own frames (``{"type": "events", ...}``, the same
JSON as ``/api/v1/events``); after events that move them, the consumer also sends the portfolio
(``{"type": "portfolio", ...}``) and the risk budget (``{"type": "risk_budget", ...}``) in the
REST serializers' JSON, at most a few times a second per connection.
"""

import asyncio
import time

from channels.db import database_sync_to_async

from events.consumers import EventStreamConsumer

from . import selectors
from .api.serializers import PortfolioSerializer, RiskBudgetSerializer

LIVE_TYPES = ["order_submitted", "fill", "trade_blocked", "marks_updated", "position_update", "risk_claimed",
              "risk_released", "positions_snapshotted", "runtime_changed"]  # fmt: skip
PORTFOLIO_TYPES = {"fill", "marks_updated", "position_update"}
RISK_TYPES = {"risk_claimed", "risk_released"}
MIN_INTERVAL_SECONDS = 0.25


def _portfolio() -> dict:
    return PortfolioSerializer(selectors.portfolio_summary()).data


def _risk_budget() -> dict:
    return RiskBudgetSerializer(selectors.risk_budget(day=selectors.risk_day_current())).data


class LiveTradingConsumer(EventStreamConsumer):
    async def subscribe(self, request: dict) -> None:
        self._sent_at = {"portfolio": 0.0, "risk_budget": 0.0}
        self._trailing: dict[str, asyncio.Task] = {}
        await super().subscribe({**request, "types": LIVE_TYPES, "run_id": ""})
        await self._send_summary("portfolio", _portfolio, force=True)
        await self._send_summary("risk_budget", _risk_budget, force=True)

    async def events_appended(self, message):
        await super().events_appended(message)
        types = {frame["type"] for frame in message["events"]}
        if types & PORTFOLIO_TYPES:
            await self._send_summary("portfolio", _portfolio)
        if types & RISK_TYPES:
            await self._send_summary("risk_budget", _risk_budget)

    async def _send_summary(self, kind: str, read, *, force: bool = False) -> None:
        """Throttled, with a trailing send: the last change is always delivered."""
        wait = MIN_INTERVAL_SECONDS - (time.monotonic() - self._sent_at[kind])
        if not force and wait > 0:
            if kind not in self._trailing:
                self._trailing[kind] = asyncio.create_task(self._send_later(kind, read, wait))
            return
        self._sent_at[kind] = time.monotonic()
        await self.send_json({"type": kind, kind: await database_sync_to_async(read)()})

    async def _send_later(self, kind: str, read, wait: float) -> None:
        await asyncio.sleep(wait)
        self._trailing.pop(kind, None)
        await self._send_summary(kind, read, force=True)

    async def disconnect(self, code):
        for task in getattr(self, "_trailing", {}).values():
            task.cancel()
        await super().disconnect(code)
