"""``/ws/backtests/{id}/``: one run's progress and status as they change.

On connect the client gets the run's current progress frame; then at most a few frames a second
while it runs (the worker throttles), and a last one when it completes, fails or is cancelled.
Frames: ``{"type": "progress", "id", "status", "candles_total", "candles_processed", "error", "heartbeat_at"}``.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from events import realtime
from events.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from tradingops.roles import Role, has_role

from . import selectors, services

CLOSE_NOT_FOUND = 4404


def _frame(run_id) -> dict | None:
    run = selectors.run_get(run_id=run_id)
    return None if run is None else services.run_frame(run)


class BacktestProgressConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.group = None
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.send_json({"type": "error", "code": CLOSE_UNAUTHENTICATED, "detail": "Log in first."})
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(has_role)(user, Role.VIEWER):
            await self.send_json({"type": "error", "code": CLOSE_FORBIDDEN, "detail": "No role grants reading."})
            await self.close(code=CLOSE_FORBIDDEN)
            return
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        # join first, then read: a change in between is sent twice at worst, never lost
        self.group = realtime.backtest_run_group(run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        frame = await database_sync_to_async(_frame)(run_id)
        if frame is None:
            await self.send_json({"type": "error", "code": CLOSE_NOT_FOUND, "detail": "No such backtest run."})
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.send_json(frame)

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def backtest_progress(self, message):
        for frame in message["frames"]:
            await self.send_json(frame)
