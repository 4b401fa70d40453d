"""The one way a WebSocket consumer checks its user: accept, then close with a clear code.

Accepting first matters: a close before accept reaches the client as a bare HTTP 403, without the
code. Every consumer extends :class:`RoleRequiredConsumer` and starts ``connect`` with
``if not await self.accept_if_allowed(): return``.
"""

import asyncio
import logging
import random
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from events import realtime
from tradingops.roles import Role, has_role

CLOSE_BAD_SUBSCRIPTION = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404

logger = logging.getLogger(__name__)


class RoleRequiredConsumer(AsyncJsonWebsocketConsumer):
    role = Role.VIEWER

    async def accept_if_allowed(self) -> bool:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED, "Log in first.")
            return False
        if not await database_sync_to_async(has_role)(user, self.role):
            await self.refuse(CLOSE_FORBIDDEN, f"This needs the {self.role} role.")
            return False
        self.allowed = True
        return True

    async def websocket_connect(self, message) -> None:
        """A page's socket (``?header=1``, which static/js/live.js always asks for) also carries
        the top bar, after the subclass's ``connect`` and its own first frames: the current state
        now (a change made between the page render and this moment shows at once), then every
        change. Channels discards ``self.groups`` on disconnect, whatever the subclass does.

        A change published while Redis was down or restarting reaches nobody (Pub/Sub keeps
        nothing) and the socket stays open: every ``EVENTS_WS_RECONCILE_S`` the socket reads the
        top bar again (two primary-key reads) and sends it if it is not what it last sent."""
        self.allowed = False
        self.header_sent: dict | None = None
        self.header_version = 0
        self.header_task: asyncio.Task | None = None
        await super().websocket_connect(message)
        if self.allowed and self.wants_header():
            await self.channel_layer.group_add(realtime.HEADER_GROUP, self.channel_name)
            self.groups.append(realtime.HEADER_GROUP)
            self.header_sent = await database_sync_to_async(realtime.header_frame)()
            await self.send_json(self.header_sent)
            if settings.EVENTS_WS_RECONCILE_S > 0:
                self.header_task = asyncio.create_task(self.header_refresh_forever(settings.EVENTS_WS_RECONCILE_S))

    async def websocket_disconnect(self, message) -> None:
        if getattr(self, "header_task", None) is not None:
            self.header_task.cancel()
        await super().websocket_disconnect(message)

    def wants_header(self) -> bool:
        return "1" in parse_qs(self.scope.get("query_string", b"").decode()).get("header", [])

    async def header_changed(self, message) -> None:
        self.header_version += 1  # a refresh read before this frame arrived is older than it
        self.header_sent = {"type": "header", **message["header"]}
        await self.send_json(self.header_sent)

    async def header_refresh_forever(self, period: float) -> None:
        while True:
            await asyncio.sleep(period * random.uniform(0.5, 1.5))
            version = self.header_version
            try:
                frame = await database_sync_to_async(realtime.header_frame)()
            except Exception:
                logger.exception("reading the top bar for an open socket failed; next try in %s s", period)
                continue
            if version == self.header_version and frame != self.header_sent:
                self.header_sent = frame
                await self.send_json(frame)

    async def refuse(self, code: int, detail: str = "", **extra) -> None:
        """Say why in a frame, then close with the code."""
        await self.send_json({"type": "error", "code": code, **({"detail": detail} if detail else {}), **extra})
        await self.close(code=code)


class HeaderConsumer(RoleRequiredConsumer):
    """``/ws/header/``: the top bar alone, for pages that have no live data of their own."""

    def wants_header(self) -> bool:
        return True

    async def connect(self):
        if await self.accept_if_allowed():
            await self.send_json({"type": "subscribed"})
