"""Sends messages to the Redis channel layer (Pub/Sub) from sync code: one long-lived event loop,
coalescing per group per tick. Used only through ``events.realtime.group_send`` (the one seam).

``async_to_sync`` from a thread with no event loop (Celery workers, management commands,
scripts) starts a new loop and thread per call, so channels-redis opened a new Redis connection
for every send. Here one event loop in a daemon thread keeps the layer's connection pool (the
Pub/Sub layer keeps one per event loop).

One ``group_send`` per event did not hold: 200 events/s to a group of 50 sockets was, on the
core layer used until then, 10,000 channel messages a second, serialised once per member, and the
emitter waited for each (p95 5.1 s in BENCHMARKS.md). On the Pub/Sub layer a group message is one
PUBLISH, whatever the number of sockets, but one per event is still 200 PUBLISHes and 200 frames
per second for every web process to decode. So ``submit`` only queues and returns; every
``TICK_SECONDS`` the loop takes what is queued and, per group, merges consecutive messages of a
type that registered a merger (event frames, market ticks and bars, backtest progress) into one
message. Order within a group is kept; a message that cannot merge is sent as it is, in its place.

A send that fails (Redis down) is logged and gone: Pub/Sub keeps nothing. The events are in the
store; open event sockets find and send them by reconciliation (events.consumers).
"""

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Callable

logger = logging.getLogger("events.realtime")

Merger = Callable[[dict, dict], dict | None]
"""Merge two consecutive messages of one group into one, or None to send both."""


class Publisher:
    TICK_SECONDS = 0.025
    """How long queued messages wait for company: the latency one pays for 40 sends a second per
    group instead of one per event."""
    MAX_PENDING = 20_000
    """Messages waiting at most; past that the caller waits (back-pressure, not unbounded memory)."""
    WAIT_SECONDS = 10

    def __init__(self, mergers: dict[str, Merger] | None = None):
        self.mergers: dict[str, Merger] = dict(mergers or {})
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pending: list[tuple[object, str, dict, int]] = []  # (layer, group, message, events in it)
        self._submitted = self._done = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._pid = 0
        atexit.register(self._flush_at_exit)

    def submit(self, layer, group: str, message: dict, count: int = 1) -> None:
        """Queue a message for the group; it goes out within a tick, after everything queued before it."""
        loop = self._ensure_loop()
        with self._lock:
            if len(self._pending) >= self.MAX_PENDING and not self._changed.wait_for(
                lambda: len(self._pending) < self.MAX_PENDING, timeout=self.WAIT_SECONDS
            ):
                logger.error("publishing %d events failed: %d messages waiting already", count, self.MAX_PENDING)
                return
            self._pending.append((layer, group, message, count))
            self._submitted += 1
            wake = len(self._pending) == 1
        if wake:
            loop.call_soon_threadsafe(self._wake.set)

    def flush(self, timeout: float = WAIT_SECONDS) -> None:
        """Wait until everything submitted so far has been sent (or has failed and been logged)."""
        with self._lock:
            target = self._submitted
            if not self._changed.wait_for(lambda: self._done >= target, timeout=timeout):
                raise TimeoutError(f"{target - self._done} publishes still waiting")

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # none yet, or forked (Celery prefork)
                self._pending, self._submitted, self._done = [], 0, 0
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                threading.Thread(target=self._run, args=(loop, ready), name="events-publisher", daemon=True).start()
                ready.wait()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        self._wake = asyncio.Event()
        loop.create_task(self._drain())
        loop.call_soon(ready.set)
        loop.run_forever()

    async def _drain(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.TICK_SECONDS)
            with self._lock:
                items, self._pending = self._pending, []
                self._changed.notify_all()
            if not items:
                continue
            try:
                await self._send(items)
            finally:
                with self._lock:
                    self._done += len(items)
                    self._changed.notify_all()
            if self._pending:
                self._wake.set()

    def coalesce(self, items: list[tuple[object, str, dict, int]]) -> dict[tuple[int, str], list]:
        """Per (layer, group), the messages in order, consecutive mergeable ones merged."""
        by_group: dict[tuple[int, str], list] = {}
        for layer, group, message, count in items:
            queue = by_group.setdefault((id(layer), group), [])
            if queue and queue[-1][1]["type"] == message["type"] and (merge := self.mergers.get(message["type"])):
                merged = merge(queue[-1][1], message)
                if merged is not None:
                    queue[-1] = (layer, merged, queue[-1][2] + count)
                    continue
            queue.append((layer, message, count))
        return by_group

    async def _send(self, items: list) -> None:
        async def send_group(group: str, queue: list) -> None:
            for layer, message, count in queue:
                try:
                    await layer.group_send(group, message)
                except Exception:
                    logger.exception(
                        "publishing %d events failed; they are stored and can be caught up (group %s)", count, group
                    )

        await asyncio.gather(*(send_group(group, queue) for (_, group), queue in self.coalesce(items).items()))

    def _flush_at_exit(self) -> None:
        if self._loop is None or self._pid != os.getpid():
            return
        try:
            self.flush(timeout=5)
        except Exception:
            logger.warning("events still being published at exit were dropped (they are stored)")
