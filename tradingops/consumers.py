"""The one way a WebSocket consumer checks its user: accept, then close with a clear code.

Accepting first matters: a close before accept reaches the client as a bare HTTP 403, without the
code. Every consumer extends :class:`RoleRequiredConsumer` and starts ``connect`` with
``if not await self.accept_if_allowed(): return``.
"""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from events import realtime
from tradingops.roles import Role, has_role

CLOSE_BAD_SUBSCRIPTION = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


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
        change. Channels discards ``self.groups`` on disconnect, whatever the subclass does."""
        self.allowed = False
        await super().websocket_connect(message)
        if self.allowed and self.wants_header():
            await self.channel_layer.group_add(realtime.HEADER_GROUP, self.channel_name)
            self.groups.append(realtime.HEADER_GROUP)
            await self.send_json(await database_sync_to_async(realtime.header_frame)())

    def wants_header(self) -> bool:
        return "1" in parse_qs(self.scope.get("query_string", b"").decode()).get("header", [])

    async def header_changed(self, message) -> None:
        await self.send_json({"type": "header", **message["header"]})

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
