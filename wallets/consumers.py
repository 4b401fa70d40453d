"""``/ws/wallets/``: reconciliation results and drift alerts as they happen.

On connect the client gets the latest run (the same JSON as the REST API), then one frame per
finished run with its breaches. Missed frames are caught up through ``/api/v1/wallets/reconcile/history``.
"""

from channels.db import database_sync_to_async

from events import realtime
from tradingops.consumers import RoleRequiredConsumer

from . import alerts, selectors


def _latest_frame() -> dict | None:
    latest = selectors.reconciliation_run_latest()
    return alerts.run_frame(latest) if latest is not None else None


class WalletAlertsConsumer(RoleRequiredConsumer):
    async def connect(self):
        self.joined = False
        if not await self.accept_if_allowed():
            return
        # Join first, then read the latest run: a run finishing in between is sent twice at
        # worst (clients drop repeats by run id), never lost.
        await self.channel_layer.group_add(realtime.wallets_alerts_group(), self.channel_name)
        self.joined = True
        latest = await database_sync_to_async(_latest_frame)()
        await self.send_json({"type": "subscribed", "latest": latest})

    async def disconnect(self, code):
        if getattr(self, "joined", False):
            await self.channel_layer.group_discard(realtime.wallets_alerts_group(), self.channel_name)

    async def wallets_alert(self, message):
        await self.send_json(message["frame"])
