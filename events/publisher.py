"""Sends event frames to a Redis channel layer from sync code through one long-lived event loop.

``async_to_sync`` from a thread with no event loop (Celery workers, management commands,
scripts) starts a new loop and thread per call, so channels-redis opened a new Redis connection
for every ``emit``: about 4 ms, more than the emit itself. Here one event loop in a daemon thread
keeps the layer's connection pool. ``submit`` returns once its frames are sent (or the failure is
logged), as ``async_to_sync`` did, so a caller still knows its events are out when it goes on.
Frames submitted meanwhile by other threads go out together, one message per group, in order.
"""

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Callable

logger = logging.getLogger("events.realtime")

Message = Callable[[list[dict]], dict]


class Publisher:
    MAX_PENDING = 10_000
    """Publishes waiting at most; past that the caller waits (back-pressure, not unbounded memory)."""
    WAIT_SECONDS = 10

    def __init__(self, message: Message):
        self._message = message
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pending: list = []
        self._submitted = self._done = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._pid = 0
        atexit.register(self._flush_at_exit)

    def submit(self, layer, by_group: dict[str, list[dict]], count: int) -> None:
        """Send frames to their groups, after every frame submitted before them; wait until sent."""
        loop = self._ensure_loop()
        with self._lock:
            if len(self._pending) >= self.MAX_PENDING and not self._changed.wait_for(
                lambda: len(self._pending) < self.MAX_PENDING, timeout=self.WAIT_SECONDS
            ):
                logger.error("publishing %d events failed: %d publishes waiting already", count, self.MAX_PENDING)
                return
            self._pending.append((layer, by_group, count))
            self._submitted += 1
            ticket = self._submitted
            wake = len(self._pending) == 1
        if wake:
            loop.call_soon_threadsafe(self._wake.set)
        with self._lock:
            if not self._changed.wait_for(lambda: self._done >= ticket, timeout=self.WAIT_SECONDS):
                logger.error("publishing %d events: not sent after %d s, still queued", count, self.WAIT_SECONDS)

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
            with self._lock:
                items, self._pending = self._pending, []
            if not items:
                continue
            try:
                await self._send(items)
            except Exception:
                logger.exception(
                    "publishing %d events failed; they are stored and can be caught up", sum(i[2] for i in items)
                )
            finally:
                with self._lock:
                    self._done += len(items)
                    self._changed.notify_all()

    async def _send(self, items: list) -> None:
        merged: dict[tuple[int, str], tuple[object, list[dict]]] = {}
        for layer, by_group, _ in items:
            for group, frames in by_group.items():
                merged.setdefault((id(layer), group), (layer, []))[1].extend(frames)
        await asyncio.gather(
            *(layer.group_send(group, self._message(frames)) for (_, group), (layer, frames) in merged.items())
        )

    def _flush_at_exit(self) -> None:
        if self._loop is None or self._pid != os.getpid():
            return
        try:
            self.flush(timeout=5)
        except Exception:
            logger.warning("events still being published at exit were dropped (they are stored)")
