"""``/ws/events/``: live events, filtered by type and run id.

Subscribe by query string (``?types=fill,trade_blocked&run_id=r1&after=123``) or by sending
``{"action": "subscribe", "types": [...], "run_id": "...", "after": 123}``. With ``after`` the
consumer first joins the groups, then replays what was stored after that log position, then
streams: nothing falls between page load and socket open. Clients drop repeats by ``id``.

Then every ``EVENTS_WS_RECONCILE_S`` the socket compares what it sent with the store and sends what
it missed (see ``reconcile``): the Redis Pub/Sub layer keeps nothing, so what was published while
Redis was down or restarting never arrives, while the socket stays open. Those events come late,
possibly after newer ones, each still once.
"""

import asyncio
import logging
import random
import time
from datetime import timedelta
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from tradingops.consumers import (  # noqa: F401 - the close codes are part of this module's interface
    CLOSE_BAD_SUBSCRIPTION,
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    RoleRequiredConsumer,
)

from . import realtime, selectors, types
from .presentation import event_to_dict

logger = logging.getLogger(__name__)

REPLAY_LIMIT = 1000
FRAME_INTERVAL_SECONDS = 0.1
"""A socket gets at most one events frame per interval: the first event after a quiet interval
goes out at once, the ones arriving within it wait for the interval's end and leave as one
frame. Each frame costs the web process a JSON encoding, a deflate and a write per socket (and
the browser a parse); at 200 events/s from several publishers, one frame per event and socket
was what the web process could not keep up with (BENCHMARKS.md, issue 12)."""
RECONCILE_SETTLE_SECONDS = 2.0
"""An event recorded this recently may still be on its way (publisher tick, layer, frame interval):
reconciliation leaves it to the live path for now instead of sending it twice."""


class EventStreamConsumer(RoleRequiredConsumer):
    groups_joined: list[str]

    async def connect(self):
        self.groups_joined = []
        self.pending: list[dict] = []
        self.flush_task: asyncio.Task | None = None
        self.sent_at = 0.0
        self.types: set[str] = set()
        self.run_id = ""
        self.after = 0
        self.forwarded: set[int] = set()
        self.checked_up_to = self.checked_before = 0
        self.subscription = 0
        self.reconcile_task: asyncio.Task | None = None
        if not await self.accept_if_allowed():
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        request = {
            "types": [t for value in query.get("types", []) for t in value.split(",") if t],
            "run_id": query.get("run_id", [""])[0],
            "after": query.get("after", [None])[0],
        }
        await self.subscribe(request)

    async def disconnect(self, code):
        self.drop_pending()
        if self.reconcile_task is not None:
            self.reconcile_task.cancel()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("action") == "subscribe":
            await self.subscribe(content)
        else:
            await self.send_json({"type": "error", "detail": "Send {'action': 'subscribe', ...}."})

    async def subscribe(self, request: dict) -> None:
        errors = {}
        wanted = request.get("types") or []
        if not isinstance(wanted, list) or not all(isinstance(t, str) for t in wanted):
            errors["types"] = ["Must be a list of event types."]
        elif unknown := sorted(set(wanted) - set(types.names())):
            errors["types"] = [f"Unknown event types: {', '.join(unknown)}."]
        run_id = request.get("run_id") or ""
        if not isinstance(run_id, str):
            errors["run_id"] = ["Must be a string."]
        after = request.get("after")
        try:
            after = None if after in (None, "") else int(after)
        except (TypeError, ValueError):
            errors["after"] = ["Must be an integer log position."]
        if errors:
            await self.send_json({"type": "error", "errors": errors})
            return

        self.drop_pending()  # filtered for the old subscription; the replay below starts afresh
        self.subscription += 1  # a reconciliation under way for the old one sends nothing
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.types, self.run_id = set(wanted), run_id
        if self.types:
            self.groups_joined = [realtime.type_group(t) for t in sorted(self.types)]
        elif run_id:
            self.groups_joined = [realtime.run_group(run_id)]
        else:
            self.groups_joined = [realtime.ALL_EVENTS_GROUP]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)

        missed = []
        if after is not None:
            missed = await database_sync_to_async(selectors.events_after)(
                after_id=after, types=sorted(self.types), run_id=run_id, limit=REPLAY_LIMIT
            )
        # frames are published after commit and may arrive late: what the client had (up to
        # ``after``) or was replayed is not sent again
        self.forwarded = {event.id for event in missed}
        self.after = after or 0
        last_id = await database_sync_to_async(selectors.event_last_id)()
        # reconciliation covers what comes after the replay; a client with no cursor, or whose
        # replay was cut (it fetches the rest through REST), starts from now
        truncated = len(missed) == REPLAY_LIMIT
        if after is None or truncated:
            self.checked_up_to = last_id
        else:
            self.checked_up_to = missed[-1].id if missed else after
        self.checked_before = self.checked_up_to
        if self.reconcile_task is None and settings.EVENTS_WS_RECONCILE_S > 0:
            self.reconcile_task = asyncio.create_task(self.reconcile_forever(settings.EVENTS_WS_RECONCILE_S))
        await self.send_json(
            {
                "type": "subscribed",
                "types": sorted(self.types),
                "run_id": run_id,
                "last_id": last_id,
                "replay_truncated": truncated,
            }
        )
        if missed:
            await self.send_json({"type": "events", "events": [event_to_dict(e) for e in missed]})

    async def dispatch(self, message) -> None:
        """Channels closes stale database connections before every message, through the one
        thread that sync code shares (``sync_to_async(close_old_connections)``): for event frames
        that is a thread hop per socket per message, serialised across the process (21 % of the
        web process's CPU with 50 sockets at 200 events/s in bench/dashboard.py, and the queue
        behind it was seconds of latency). Event frames skip it: their handlers reach the database
        only through ``database_sync_to_async``, which closes stale connections itself."""
        if message["type"] == realtime.MESSAGE_TYPE:
            await self.events_appended(message)
        else:
            await super().dispatch(message)

    async def events_appended(self, message):
        frames = [
            frame
            for frame in message["events"]
            if (not self.types or frame["type"] in self.types)
            and (not self.run_id or frame["run_id"] == self.run_id)
            and frame["id"] > self.after
            and frame["id"] not in self.forwarded
        ]
        if not frames:
            return
        self.forwarded.update(frame["id"] for frame in frames if frame["id"] > self.checked_before)
        self.pending.extend(frames)
        if self.flush_task is not None:
            return
        wait = FRAME_INTERVAL_SECONDS - (time.monotonic() - self.sent_at)
        if wait <= 0:
            await self.send_pending()
        else:
            self.flush_task = asyncio.create_task(self.send_pending_after(wait))

    async def send_pending_after(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self.flush_task = None
        await self.send_pending()

    async def send_pending(self) -> None:
        frames, self.pending = self.pending, []
        self.sent_at = time.monotonic()
        await self.send_json({"type": "events", "events": frames})

    async def reconcile_forever(self, period: float) -> None:
        """Reconcile every ``period`` seconds (jittered, so that a process's sockets spread their
        queries), at once again while a round had more to send than one frame takes."""
        more = False
        while True:
            if not more:
                await asyncio.sleep(period * random.uniform(0.5, 1.5))
            try:
                more = await self.reconcile()
            except Exception:
                logger.exception("reconciling a socket with the event store failed; next try in %s s", period)
                more = False

    async def reconcile(self) -> bool:
        """Send the events of this subscription that it has not sent (live or replayed), up to the
        newest event recorded more than ``RECONCILE_SETTLE_SECONDS`` ago. The ids sent are all in
        the store, so equal counts mean nothing is missing: the usual round reads two counts and
        no event. True when a gap was larger than one frame (``REPLAY_LIMIT``) and the rest is
        still to send."""
        subscription, since = self.subscription, self.checked_up_to
        filters = {"types": sorted(self.types), "run_id": self.run_id}
        # taken before the count: each of them is committed, so each is counted if in range
        forwarded = [event_id for event_id in self.forwarded if event_id > since]
        settled = await database_sync_to_async(selectors.events_settled_after)(
            after_id=since, recorded_before=timezone.now() - timedelta(seconds=RECONCILE_SETTLE_SECONDS), **filters
        )
        if subscription != self.subscription:
            return False
        horizon, more = settled.horizon, False
        if sum(1 for event_id in forwarded if event_id <= horizon) != settled.count:
            stored = await database_sync_to_async(selectors.event_ids_between)(after_id=since, up_to=horizon, **filters)
            missing = [event_id for event_id in stored if event_id not in self.forwarded]
            if more := len(missing) > REPLAY_LIMIT:
                missing = missing[:REPLAY_LIMIT]
                horizon = missing[-1]
            if missing:
                events = await database_sync_to_async(selectors.events_with_ids)(missing)
                if subscription != self.subscription:
                    return False
                frames = [event_to_dict(event) for event in events]
                await self.events_appended({"type": realtime.MESSAGE_TYPE, "events": frames})
            if subscription != self.subscription:
                return False
        # ids up to the previous check are forgotten; this round's stay one more round, so a frame
        # that was still on its way is not sent twice when it lands
        self.forwarded = {event_id for event_id in self.forwarded if event_id > since}
        self.checked_before, self.checked_up_to = since, horizon
        return more

    def drop_pending(self) -> None:
        if self.flush_task is not None:
            self.flush_task.cancel()
            self.flush_task = None
        self.pending = []
