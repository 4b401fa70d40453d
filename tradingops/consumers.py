"""The one way a WebSocket consumer checks its user: accept, then close with a clear code.

Accepting first matters: a close before accept reaches the client as a bare HTTP 403, without the
code. Every consumer extends :class:`RoleRequiredConsumer` and starts ``connect`` with
``if not await self.accept_if_allowed(): return``.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

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
        return True

    async def refuse(self, code: int, detail: str = "", **extra) -> None:
        """Say why in a frame, then close with the code."""
        await self.send_json({"type": "error", "code": code, **({"detail": detail} if detail else {}), **extra})
        await self.close(code=code)
