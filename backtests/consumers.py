"""``/ws/backtests/{id}/``: one run's progress and status as they change.

On connect the client gets the run's current progress frame; then at most a few frames a second
while it runs (the worker throttles), and a last one when it completes, fails or is cancelled.
Frames: ``{"type": "progress", "id", "status", "candles_total", "candles_processed", "error", "heartbeat_at"}``.

A frame published while Redis was down or restarting reaches nobody (the Pub/Sub layer keeps nothing)
and the socket stays open, so until the run has finished the socket reads it again every
``EVENTS_WS_RECONCILE_S`` and sends it when its status is not the one last sent: a run that ended
meanwhile still shows as ended. (A lost progress frame needs nothing: the next one replaces it.)
"""

import asyncio

from channels.db import database_sync_to_async
from django.conf import settings

from events import realtime
from tradingops.consumers import CLOSE_NOT_FOUND, RoleRequiredConsumer

from . import notify, selectors
from .models import FINISHED


def _frame(run_id) -> dict | None:
    run = selectors.run_get(run_id=run_id)
    return None if run is None else notify.run_frame(run)


class BacktestProgressConsumer(RoleRequiredConsumer):
    async def connect(self):
        self.group = None
        self.sent: dict = {}
        self.version = 0
        self.refresh_task: asyncio.Task | None = None
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
        await self.send_frame(frame)
        if frame["status"] not in FINISHED and settings.EVENTS_WS_RECONCILE_S > 0:
            self.refresh_task = asyncio.create_task(self.refresh_until_finished(run_id, settings.EVENTS_WS_RECONCILE_S))

    async def disconnect(self, code):
        if self.refresh_task is not None:
            self.refresh_task.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def backtest_progress(self, message):
        for frame in message["frames"]:
            await self.send_frame(frame)

    async def send_frame(self, frame: dict) -> None:
        self.version += 1  # a refresh read before this frame arrived is older than it
        self.sent = frame
        await self.send_json(frame)

    async def refresh_until_finished(self, run_id, period: float) -> None:
        while self.sent.get("status") not in FINISHED:
            await asyncio.sleep(period)
            version = self.version
            frame = await database_sync_to_async(_frame)(run_id)
            if frame is not None and version == self.version and frame["status"] != self.sent.get("status"):
                await self.send_frame(frame)
