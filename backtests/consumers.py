"""``/ws/backtests/{id}/``: one run's progress and status as they change.

On connect the client gets the run's current progress frame; then at most a few frames a second
while it runs (the worker throttles), and a last one when it completes, fails or is cancelled.
Frames: ``{"type": "progress", "id", "status", "candles_total", "candles_processed", "error", "heartbeat_at"}``.
"""

from channels.db import database_sync_to_async

from events import realtime
from tradingops.consumers import CLOSE_NOT_FOUND, RoleRequiredConsumer

from . import notify, selectors


def _frame(run_id) -> dict | None:
    run = selectors.run_get(run_id=run_id)
    return None if run is None else notify.run_frame(run)


class BacktestProgressConsumer(RoleRequiredConsumer):
    async def connect(self):
        self.group = None
        if not await self.accept_if_allowed():
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
